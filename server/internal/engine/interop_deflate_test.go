package engine

import (
	"path/filepath"
	"strconv"
	"testing"
)

// The compression interop tests: the same clients as interop_test.go with
// permessage-deflate on, against an echo server with compression at its
// defaults. Each script sends compressible JSON and incompressible bytes at
// sizes around the server's threshold and its own, whole and fragmented,
// checks every echo, and from the bytes read checks that the server
// compressed what it should (compressible, at or over the threshold) and
// nothing else.

func TestInteropNodeWSDeflate(t *testing.T) {
	node, client := interopNode(t)
	srv := startEngine(t, Config{Echo: true, MaxMessage: 1 << 20}, nil)
	out := interopRun(t, []string{"WSPUSH_CLIENT_DIR=" + client},
		node, filepath.Join("testdata", "interop", "ws_deflate.mjs"), interopURL(srv), strconv.Itoa(DefaultCompressionThreshold))
	t.Logf("%s", out)
}

func TestInteropPythonWebsocketsDeflate(t *testing.T) {
	interopNeedPython(t)
	srv := startEngine(t, Config{Echo: true, MaxMessage: 1 << 20}, nil)
	out := interopRun(t, nil,
		interopPython, filepath.Join("testdata", "interop", "websockets_deflate.py"), interopURL(srv), strconv.Itoa(DefaultCompressionThreshold))
	t.Logf("%s", out)
}

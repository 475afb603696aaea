package engine

import (
	"path/filepath"
	"strconv"
	"testing"
)

// The --max-message interop tests: Node's ws and Python's websockets, with
// permessage-deflate on, send messages of 65,535, 65,536 and 65,537 bytes,
// compressible and not, whole and fragmented, each at zlib's default block
// size and at its smallest (memLevel 1), to an echo server with
// --max-message 65536. The limit is on the message as the application sees
// it: up to 65,536 bytes every one echoes back, 65,537 closes with 1009,
// whatever DEFLATE added on the wire (issue 19; at bd5d0fc incompressible
// messages within the limit were 1009).

// interopMaxMessage is the servers' --max-message here, its default.
const interopMaxMessage = 65536

func TestInteropNodeWSMaxMessage(t *testing.T) {
	node, client := interopNode(t)
	srv := startEngine(t, Config{Echo: true, MaxMessage: interopMaxMessage}, nil)
	out := interopRun(t, []string{"WSPUSH_CLIENT_DIR=" + client},
		node, filepath.Join("testdata", "interop", "ws_maxmessage.mjs"), interopURL(srv), strconv.Itoa(interopMaxMessage))
	t.Logf("%s", out)
}

func TestInteropPythonWebsocketsMaxMessage(t *testing.T) {
	interopNeedPython(t)
	srv := startEngine(t, Config{Echo: true, MaxMessage: interopMaxMessage}, nil)
	out := interopRun(t, nil,
		interopPython, filepath.Join("testdata", "interop", "websockets_maxmessage.py"), interopURL(srv), strconv.Itoa(interopMaxMessage))
	t.Logf("%s", out)
}

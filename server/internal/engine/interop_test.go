package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/wstest"
)

// The interop tests run clients nobody here wrote against an echo server:
// Node's ws (client/package.json pins it) and Python's websockets (the
// Debian package python3-websockets). Each script sends text and binary
// messages at the boundaries of the three payload length forms, a text
// message fragmented inside a multi-byte character with a ping between the
// fragments, and a 1000 close, and exits non-zero on any mismatch.

const (
	// interopPython is Debian's interpreter, which sees Debian's Python
	// packages; a python3 earlier on PATH (pyenv, venv) usually does not.
	interopPython = "/usr/bin/python3"
	// interopTimeout bounds one script run.
	interopTimeout = 60 * time.Second
)

func TestInteropNodeWS(t *testing.T) {
	node, client := interopNode(t)
	srv := startEngine(t, Config{Echo: true, MaxMessage: 1 << 20}, nil)
	out := interopRun(t, []string{"WSPUSH_CLIENT_DIR=" + client},
		node, filepath.Join("testdata", "interop", "ws_echo.mjs"), interopURL(srv))
	t.Logf("%s", out)
}

func TestInteropPythonWebsockets(t *testing.T) {
	interopNeedPython(t)
	srv := startEngine(t, Config{Echo: true, MaxMessage: 1 << 20}, nil)
	out := interopRun(t, nil,
		interopPython, filepath.Join("testdata", "interop", "websockets_echo.py"), interopURL(srv))
	t.Logf("%s", out)
}

// interopNode returns node's path and client/, whose node_modules holds
// Node's ws, or calls interopMissing.
func interopNode(t *testing.T) (node, client string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		interopMissing(t, "node is not on PATH")
	}
	client, err = filepath.Abs(filepath.Join("..", "..", "..", "client"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(client, "node_modules", "ws", "package.json")); err != nil {
		interopMissing(t, "Node's ws is not installed in client/node_modules")
	}
	return node, client
}

// interopNeedPython checks that interopPython can import websockets, or
// calls interopMissing.
func interopNeedPython(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(interopPython); err != nil {
		interopMissing(t, interopPython+" is missing")
	}
	if out, err := exec.Command(interopPython, "-c", "import websockets").CombinedOutput(); err != nil {
		interopMissing(t, fmt.Sprintf("%s cannot import websockets: %v\n%s", interopPython, err, out))
	}
}

// interopMissing fails t for a client that is not installed, or skips it
// when WSPUSH_SKIP_INTEROP=1 says the run knowingly goes without.
func interopMissing(t *testing.T, why string) { wstest.Missing(t, why) }

// interopURL is the WebSocket endpoint of s.
func interopURL(s *Engine) string { return "ws://" + s.Addr().String() + Path }

// interopRun runs a client script with env added to the test's environment
// and returns its output; it fails t with that output if the script exits
// non-zero or runs past interopTimeout.
func interopRun(t *testing.T, env []string, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v: no result after %v: %v\n%s", name, args, interopTimeout, ctx.Err(), out.Bytes())
	}
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("%s %v exited %d:\n%s", name, args, exit.ExitCode(), out.Bytes())
		}
		t.Fatalf("%s %v: %v\n%s", name, args, err, out.Bytes())
	}
	return out.Bytes()
}

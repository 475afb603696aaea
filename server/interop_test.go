package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
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
	// interopSetup is what to run when a client is missing.
	interopSetup = "run the README's test command, which installs them: (cd client && npm ci) for ws, apt-get install nodejs python3-websockets for node and websockets"
)

func TestInteropNodeWS(t *testing.T) {
	node, client := interopNode(t)
	srv := interopStartServer(t)
	out := interopRun(t, []string{"WSPUSH_CLIENT_DIR=" + client},
		node, filepath.Join("testdata", "interop", "ws_echo.mjs"), interopURL(srv))
	t.Logf("%s", out)
}

func TestInteropPythonWebsockets(t *testing.T) {
	interopNeedPython(t)
	srv := interopStartServer(t)
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
	client, err = filepath.Abs(filepath.Join("..", "client"))
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
func interopMissing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("WSPUSH_SKIP_INTEROP") == "1" {
		t.Skipf("%s (WSPUSH_SKIP_INTEROP=1)", why)
	}
	t.Fatalf("%s: %s; or set WSPUSH_SKIP_INTEROP=1 to skip the interop tests", why, interopSetup)
}

// interopStartServer starts an in-process echo server on a free port. Its
// cleanup shuts the server down, checks that Serve returned nil and that the
// server's goroutines are gone.
func interopStartServer(t *testing.T) *Server {
	t.Helper()
	before := runtime.NumGoroutine()
	srv := New(Config{ConnConfig: ConnConfig{Addr: "127.0.0.1:0", Echo: true, MaxMessage: 1 << 20}})
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	select {
	case <-srv.Ready():
	case err := <-served:
		t.Fatalf("Serve: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("server not ready after 5s")
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve returned %v after Shutdown, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Serve did not return 5s after Shutdown")
		}
		interopWaitFor(t, 5*time.Second, func() error {
			if n := runtime.NumGoroutine(); n > before {
				return fmt.Errorf("%d goroutines, %d before the server started", n, before)
			}
			return nil
		})
	})
	return srv
}

func interopURL(srv *Server) string {
	return "ws://" + srv.Addr().String() + Path
}

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

// interopWaitFor polls cond until it returns nil, failing t with its last
// error after d.
func interopWaitFor(t *testing.T, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

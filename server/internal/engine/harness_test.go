package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"go.uber.org/goleak"

	"github.com/wspush/wspush/server/internal/history"
)

// The engine's tests drive it with gobwas/ws's own client (ws.Dial,
// wsutil), which is a different peer from the raw-socket transcripts of
// the server package's tests.

// startEngine runs an engine with no hooks on a free loopback port for the
// length of the test, with store as its history (nil: none), and checks
// on cleanup that it stopped and left no goroutine behind.
func startEngine(t *testing.T, cfg Config, store history.Store) *Engine {
	t.Helper()
	return startEngineHooks(t, cfg, nil, store)
}

// startEngineHooks is startEngine with hooks.
func startEngineHooks(t *testing.T, cfg Config, hooks Hooks, store history.Store) *Engine {
	t.Helper()
	return startEngineFull(t, cfg, hooks, store, nil)
}

// startEngineBefore is startEngine with prep run on the engine before it
// starts.
func startEngineBefore(t *testing.T, cfg Config, prep func(*Engine)) *Engine {
	t.Helper()
	return startEngineFull(t, cfg, nil, nil, prep)
}

func startEngineFull(t *testing.T, cfg Config, hooks Hooks, store history.Store, prep func(*Engine)) *Engine {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	cfg.Addr = "127.0.0.1:0"
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	s := New(cfg, hooks, store)
	if prep != nil {
		prep(s)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run() }()
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Drain(ctx)
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("run returned %v", err)
		}
	})
	return s
}

// wsDial opens a WebSocket to s at path (with its query) with gobwas/ws's
// client.
func wsDial(t *testing.T, s *Engine, path string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nc, br, _, err := ws.Dial(ctx, "ws://"+s.Addr().String()+path)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	t.Cleanup(func() { nc.Close() })
	if br != nil {
		// Frames that came with the 101 (the welcome) wait in br.
		return bufConn{nc, br}
	}
	return nc
}

// bufConn reads what a handshake left buffered before the socket.
type bufConn struct {
	net.Conn
	r io.Reader
}

func (c bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// onLoops runs f on every loop of s and sums what it returns.
func onLoops(s *Engine, f func(l *loop) int) int {
	n, _ := s.fan(context.Background(), true, nil, func(*loop) job { return job{fn: f} })
	return n
}

// waitFor polls f until it returns nil or d passes.
func waitFor(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readText reads the next text message from nc, skipping control frames.
func readText(nc net.Conn, d time.Duration) ([]byte, error) {
	_ = nc.SetReadDeadline(time.Now().Add(d))
	for {
		p, op, err := wsutil.ReadServerData(nc)
		if err != nil {
			return nil, err
		}
		if op == ws.OpText {
			return p, nil
		}
	}
}

// expectEOF checks that the server ends the TCP connection.
func expectEOF(t *testing.T, nc net.Conn) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [512]byte
	for {
		_, err := nc.Read(b[:])
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open")
		}
		return
	}
}

var errorf = fmt.Errorf

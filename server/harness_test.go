package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/wire"
	"github.com/wspush/wspush/server/internal/wstest"

	"github.com/gobwas/ws"
	"go.uber.org/goleak"
)

// startServer runs a server on a free loopback port for the length of the
// test, and checks on cleanup that it stopped and left no goroutine behind.
func startServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	// Cleanups run last first: the leak check after startPlain's shutdown.
	t.Cleanup(func() { wstest.NoLeaks(t, ignore) })
	return startPlain(t, cfg)
}

// startPlain starts a server on a free loopback port for the length of the
// test and checks on cleanup that it stopped; it leaves the check for
// leaked goroutines to its caller (startServer, or the cluster tests'
// startRedis, which outlives several servers).
func startPlain(t testing.TB, cfg Config) *Server {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	s := New(cfg)
	done := wstest.Serve(t, s.Serve, s.Ready())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	})
	return s
}

// waitFor polls f until it returns nil or d passes.
func waitFor(t testing.TB, d time.Duration, f func() error) { wstest.WaitFor(t, d, f) }

// client is a test peer on a raw TCP connection (wstest.Client).
type client = wstest.Client

func dial(t testing.TB, s *Server) *client { return wstest.Dial(t, s.Addr().String()) }

// dialAs upgrades with extra query and header lines and reads the welcome.
func dialAs(t testing.TB, s *Server, query, header string) (*client, map[string]any) {
	t.Helper()
	return wstest.DialAs(t, s.Addr().String(), query, header)
}

// upgradeRequest is a valid opening handshake for path.
func upgradeRequest(path string) string { return wstest.UpgradeRequest(path) }

// maskedFrame is the wire form of a client frame.
func maskedFrame(op ws.OpCode, fin bool, p []byte) []byte { return wstest.MaskedFrame(op, fin, p) }

func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }

func closeCount(s *Server, r wire.CloseReason) func() error {
	return func() error {
		if n := s.eng.Counters().Closes[r]; n == 0 {
			return fmt.Errorf("no close with reason %s yet", r)
		}
		return nil
	}
}

// Package wstest holds what the server's tests share, whichever room
// they test: polling for a condition, WebSocket frames as a client writes
// them, raw connections that read like a transcript. Only tests import
// it.
//
//	wstest.WaitFor(t, time.Second, func() error {
//		if srv.Conns() != 1 {
//			return errors.New("not connected yet")
//		}
//		return nil
//	})
package wstest

import (
	"testing"
	"time"
)

// WaitFor polls f every 10 ms until it returns nil, and fails t with f's
// last error if d passes first.
func WaitFor(t testing.TB, d time.Duration, f func() error) {
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

// Serve runs run (a server's Serve, an engine's Run) on a goroutine of
// its own and returns once ready is closed, failing t if run returns
// first. run's result arrives on the channel.
func Serve(t testing.TB, run func() error, ready <-chan struct{}) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- run() }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	return done
}

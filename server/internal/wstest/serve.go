package wstest

import (
	"context"
	"testing"
	"time"
)

// Serve runs a server for the length of the test: run on a goroutine of
// its own until ready closes (failing t if run returns first), and on
// cleanup stop, within 10 s, then run's return, both of which must be
// nil. A server that needs draining first does it in stop.
func Serve(t testing.TB, run func() error, ready <-chan struct{}, stop func(context.Context) error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- run() }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	})
}

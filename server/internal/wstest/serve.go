package wstest

import (
	"context"
	"testing"
	"time"
)

// ServeAndStop is Serve for the length of the test: on cleanup it calls
// stop, within 10 s, then waits for run's return; both must be nil. A
// server that needs draining first does it in stop.
func ServeAndStop(t testing.TB, run func() error, ready <-chan struct{}, stop func(context.Context) error) {
	t.Helper()
	done := Serve(t, run, ready)
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

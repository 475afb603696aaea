package engine

import (
	"sync/atomic"
	"testing"
	"time"
)

// countingReleaser is a releaser whose collections are only counted.
func countingReleaser(quiet time.Duration, n *atomic.Int64) *releaser {
	r := newReleaser(quiet)
	r.collect = func() { n.Add(1) }
	r.heap = func() bool { return true }
	return r
}

// A burst is collected once, after the quiet spell and not before, and
// not again until as many connections have come and gone once more.
func TestReleaseAfterTheBurstIsQuiet(t *testing.T) {
	var n atomic.Int64
	r := countingReleaser(time.Second, &n)
	t0 := time.Unix(1000, 0)
	tick := func(d time.Duration, churn, conns int64) {
		t.Helper()
		r.tick(t0.Add(d), churn, conns)
		r.wait()
	}
	// 10,000 connections open over 2 s: the churn moves at every tick.
	for i := range int64(20) {
		tick(time.Duration(i)*100*time.Millisecond, 500*(i+1), 500*(i+1))
	}
	tick(2500*time.Millisecond, 10000, 10000)
	if got := n.Load(); got != 0 {
		t.Fatalf("%d collections 0.6 s after the burst, want none before the quiet second", got)
	}
	tick(3000*time.Millisecond, 10000, 10000)
	if got := n.Load(); got != 1 {
		t.Fatalf("%d collections a second after the burst, want 1", got)
	}
	tick(10*time.Second, 10000, 10000)
	if got := n.Load(); got != 1 {
		t.Fatalf("%d collections with nothing new, want still 1", got)
	}
	// 1,000 reconnects: under a quarter of the connections, not worth a
	// collection of the whole heap.
	tick(11*time.Second, 11000, 10000)
	tick(13*time.Second, 11000, 10000)
	if got := n.Load(); got != 1 {
		t.Fatalf("%d collections after 1,000 reconnects, want still 1", got)
	}
	// 3,000 more: past a quarter since the last collection.
	tick(14*time.Second, 14000, 10000)
	tick(16*time.Second, 14000, 10000)
	if got := n.Load(); got != 2 {
		t.Fatalf("%d collections after 4,000 reconnects, want 2", got)
	}
}

// A small server's handful of connections is left to the runtime.
func TestReleaseNotForAFewConnections(t *testing.T) {
	var n atomic.Int64
	r := countingReleaser(time.Second, &n)
	t0 := time.Unix(1000, 0)
	r.tick(t0, 100, 100)
	r.tick(t0.Add(5*time.Second), 100, 100)
	r.wait()
	if got := n.Load(); got != 0 {
		t.Fatalf("%d collections after 100 connections, want none (fewer than %d)", got, releaseMinChurn)
	}
}

// A negative quiet turns the release off.
func TestReleaseOffWhenQuietNegative(t *testing.T) {
	var n atomic.Int64
	r := countingReleaser(-1, &n)
	t0 := time.Unix(1000, 0)
	r.tick(t0, 50000, 50000)
	r.tick(t0.Add(time.Minute), 50000, 50000)
	r.wait()
	if got := n.Load(); got != 0 {
		t.Fatalf("%d collections with ReleaseQuiet < 0, want none", got)
	}
}

func TestWorthCollecting(t *testing.T) {
	for _, tc := range []struct {
		live, objects, free uint64
		want                bool
	}{
		{live: 8 << 20, objects: 8 << 20, free: 0, want: false},         // just collected, nothing kept free
		{live: 8 << 20, objects: 8<<20 + 512<<10, free: 0, want: false}, // under the 1 MiB floor
		{live: 8 << 20, objects: 10 << 20, free: 0, want: true},         // 2 MiB since the last GC
		{live: 8 << 20, objects: 8 << 20, free: 3 << 20, want: true},    // free pages kept from the OS
		{live: 64 << 20, objects: 70 << 20, free: 0, want: false},       // under an eighth of the live heap
		{live: 64 << 20, objects: 73 << 20, free: 0, want: true},
		{live: 8 << 20, objects: 6 << 20, free: 0, want: false}, // freed since: nothing allocated
	} {
		if got := worthCollecting(tc.live, tc.objects, tc.free); got != tc.want {
			t.Errorf("worthCollecting(live %d, objects %d, free %d) = %v, want %v", tc.live, tc.objects, tc.free, got, tc.want)
		}
	}
}

// The engine's ticker drives the release: connections that open and then
// sit quiet are followed by one collection.
func TestEngineReleasesAfterConnectBurst(t *testing.T) {
	var n atomic.Int64
	s := startEngineBefore(t, Config{ReleaseQuiet: 200 * time.Millisecond}, func(s *Engine) {
		s.rel.collect = func() { n.Add(1) }
		s.rel.heap = func() bool { return true }
		s.rel.minChurn = 3
	})
	for range 3 {
		wsDial(t, s, "/ws")
	}
	waitFor(t, 5*time.Second, func() error {
		if n.Load() == 0 {
			return errorf("no collection yet after %d upgrades", s.upgrades.Load())
		}
		return nil
	})
	if got := s.rel.runs.Load(); got != 1 {
		t.Fatalf("%d collections, want 1", got)
	}
}

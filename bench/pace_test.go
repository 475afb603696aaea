package bench

import (
	"testing"
	"time"
)

func TestPacerSpacesEventsEvenly(t *testing.T) {
	start := time.Unix(1000, 0)
	p := newPacer(10, start)
	for i, want := range []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond} {
		if got := p.wait(start); got != want {
			t.Errorf("event %d at the start: wait %v, want %v", i, got, want)
		}
	}
}

func TestPacerWaitsFromNow(t *testing.T) {
	start := time.Unix(1000, 0)
	p := newPacer(4, start) // one every 250ms
	p.wait(start)
	if got := p.wait(start.Add(100 * time.Millisecond)); got != 150*time.Millisecond {
		t.Fatalf("wait %v, want 150ms", got)
	}
}

// TestPacerCatchUpIsBounded: a caller that fell a second behind gets only
// the events it missed at once, then the rate again.
func TestPacerCatchUpIsBounded(t *testing.T) {
	start := time.Unix(1000, 0)
	p := newPacer(10, start)
	late := start.Add(time.Second)
	burst := 0
	for p.wait(late) == 0 {
		burst++
		if burst > 100 {
			t.Fatal("no end to the burst")
		}
	}
	if burst != 11 { // events due at 0, 100ms, ..., 1000ms
		t.Fatalf("burst of %d, want 11", burst)
	}
}

func TestPacerZeroRateNeverWaits(t *testing.T) {
	p := newPacer(0, time.Unix(1000, 0))
	for range 1000 {
		if w := p.wait(time.Unix(0, 0)); w != 0 {
			t.Fatalf("wait %v, want 0", w)
		}
	}
	if p.n != 1000 {
		t.Fatalf("counted %d, want 1000", p.n)
	}
}

func TestShareSplitsEveryConnectionOnce(t *testing.T) {
	for _, tc := range []struct{ total, n int }{{10000, 2}, {10, 3}, {7, 7}, {5, 1}} {
		next := 0
		for i := range tc.n {
			count, offset := share(tc.total, tc.n, i)
			if offset != next {
				t.Fatalf("%d over %d: worker %d starts at %d, want %d", tc.total, tc.n, i, offset, next)
			}
			next += count
		}
		if next != tc.total {
			t.Fatalf("%d over %d: shares add up to %d", tc.total, tc.n, next)
		}
	}
}

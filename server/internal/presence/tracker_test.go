package presence

import (
	"slices"
	"testing"
	"time"
)

// The clock is the caller's: every test here passes its own times, so
// nothing depends on how fast the machine runs.

func TestTrackerWithinIsTheGraceAfterTheLastClose(t *testing.T) {
	tr := New(time.Second, nil)
	t0 := time.Unix(1700000000, 0)
	tr.Left("a", t0)
	if !tr.Within("a", t0.Add(999*time.Millisecond)) || tr.Within("a", t0.Add(time.Second)) {
		t.Fatal("within the grace is [0, 1s)")
	}
	tr.Left("b", t0.Add(2*time.Second)) // expires a
	if n := tr.Len(); n != 1 {
		t.Fatalf("%d users remembered, want 1", n)
	}
}

func TestTrackerCallsExpiredOnceForUsersThatStayedAway(t *testing.T) {
	var got []string
	tr := New(time.Second, func(u string, due time.Time) { got = append(got, u+"@"+due.Format("05")) })
	t0 := time.Unix(1700000000, 0)
	tr.Left("a", t0)
	tr.Left("b", t0)
	tr.Back("b") // back within the grace: never offline
	tr.Left("c", t0.Add(500*time.Millisecond))
	tr.Expire(t0.Add(999 * time.Millisecond))
	if len(got) != 0 {
		t.Fatalf("expired before the grace: %v", got)
	}
	tr.Expire(t0.Add(2 * time.Second))
	tr.Expire(t0.Add(3 * time.Second))
	if want := []string{"a@21", "c@21"}; !slices.Equal(got, want) {
		t.Fatalf("expired %v, want %v", got, want)
	}
	if tr.Len() != 0 {
		t.Fatalf("%d left", tr.Len())
	}
}

func TestTrackerWithoutGraceIsNeverWithin(t *testing.T) {
	var got []string
	tr := New(0, func(u string, _ time.Time) { got = append(got, u) })
	t0 := time.Unix(1700000000, 0)
	tr.Left("a", t0)
	if tr.Within("a", t0) {
		t.Fatal("within a zero grace")
	}
	tr.Expire(t0)
	if !slices.Equal(got, []string{"a"}) {
		t.Fatalf("a zero grace expires at once: %v", got)
	}
}

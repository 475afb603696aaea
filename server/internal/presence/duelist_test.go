package presence

import (
	"slices"
	"testing"
	"time"
)

func TestDueListExpiresInOrderAndSkipsStaleEntries(t *testing.T) {
	var l dueList
	t0 := time.Unix(1700000000, 0)
	l.set("a", t0.Add(1*time.Second))
	l.set("b", t0.Add(2*time.Second))
	l.set("a", t0.Add(3*time.Second)) // set again: its first entry goes stale
	l.set("c", t0.Add(4*time.Second))
	l.remove("c")
	var got []string
	collect := func(u string, _ time.Time) { got = append(got, u) }

	l.expire(t0.Add(2*time.Second), collect)
	if !slices.Equal(got, []string{"b"}) || len(l.due) != 1 {
		t.Fatalf("at 2s: expired %v, %d left", got, len(l.due))
	}
	l.expire(t0.Add(10*time.Second), collect)
	if !slices.Equal(got, []string{"b", "a"}) || len(l.due) != 0 || l.queued() != 0 {
		t.Fatalf("at 10s: expired %v, %d left, %d queued", got, len(l.due), l.queued())
	}
}

func TestDueListMemoryStaysWithWhatIsPending(t *testing.T) {
	var l dueList
	t0 := time.Unix(1700000000, 0)
	for i := range 10000 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		l.set("u"+string(rune('a'+i%26)), now.Add(100*time.Millisecond))
		l.expire(now, nil)
	}
	if q := l.queued(); q > 200 {
		t.Fatalf("%d entries queued for a 100 ms grace at one user a millisecond", q)
	}
}

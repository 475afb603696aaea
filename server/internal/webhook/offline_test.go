package webhook

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// askLog is a Deps.Connected that answers from a fixed set of users who
// are connected elsewhere, and records each question.
type askLog struct {
	mu        sync.Mutex
	elsewhere map[string]bool
	asked     [][]string
}

func (a *askLog) connected(users []string) []bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked = append(a.asked, slices.Clone(users))
	on := make([]bool, len(users))
	for i, u := range users {
		on[i] = a.elsewhere[u]
	}
	return on
}

func (a *askLog) questions() [][]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.asked)
}

// The users whose grace passed are checked in one question, and only
// those connected nowhere get an offline event, stamped with the end of
// their grace.
func TestOfflineAsksOnceForAllAndTellsOfWhoIsGone(t *testing.T) {
	b := newBackend(t, nil)
	ask := &askLog{elsewhere: map[string]bool{"bob": true}}
	t0 := time.UnixMilli(1700000000000)
	w := New(Config{URL: b.url, Secret: testSecret, Events: []string{"offline"}, Delay: 10 * time.Millisecond},
		Deps{Connected: ask.connected})
	// Before Start: the sender finds them all when it starts.
	w.Offline([]string{"alice", "bob", "carol"}, []time.Time{t0, t0.Add(time.Second), t0.Add(2 * time.Second)})
	w.Start()
	evs := b.events(2)
	closeHook(w)
	b.quiet()
	if q := ask.questions(); len(q) != 1 || !slices.Equal(q[0], []string{"alice", "bob", "carol"}) {
		t.Fatalf("asked %v, want one question for the three", q)
	}
	if len(evs) != 2 || evs[0].User != "alice" || evs[1].User != "carol" {
		t.Fatalf("events %+v, want alice's and carol's offline: bob is connected elsewhere", evs)
	}
	for i, want := range []time.Time{t0, t0.Add(2 * time.Second)} {
		if e := evs[i]; e.Type != "offline" || e.Conn != "" || e.TS != want.UnixMilli() {
			t.Errorf("event %+v, want an offline without conn at %d", e, want.UnixMilli())
		}
	}
	if c := w.Counters(); c.Sent != 2 || c.QueueBytes != 0 {
		t.Fatalf("counters %+v", c)
	}
}

// At most Config.Queue users wait for the sender's question; past them
// (a mass disconnect) the offline events are dropped and counted like a
// full queue's.
func TestOfflinePastTheQueueIsDroppedAndCounted(t *testing.T) {
	b := newBackend(t, nil)
	ask := &askLog{}
	t0 := time.UnixMilli(1700000000000)
	w := New(Config{URL: b.url, Secret: testSecret, Events: []string{"offline"}, Queue: 2, Delay: 10 * time.Millisecond},
		Deps{Connected: ask.connected})
	w.Offline([]string{"a", "b", "c"}, []time.Time{t0, t0, t0})
	w.Offline([]string{"d"}, []time.Time{t0})
	if d := w.Counters().Dropped; d != 2 {
		t.Fatalf("dropped %d, want c and d", d)
	}
	w.Start()
	evs := b.events(2)
	closeHook(w)
	b.quiet()
	if len(evs) != 2 || evs[0].User != "a" || evs[1].User != "b" {
		t.Fatalf("events %+v, want a's and b's", evs)
	}
	if q := ask.questions(); len(q) != 1 || !slices.Equal(q[0], []string{"a", "b"}) {
		t.Fatalf("asked %v, want one question for a and b", q)
	}
}

// Offline events not wanted cost nothing: no question, no drop.
func TestOfflineNotWantedIsNeitherAskedNorCounted(t *testing.T) {
	b := newBackend(t, nil)
	ask := &askLog{}
	w := startHook(t, Config{URL: b.url, Events: []string{"connect"}, Queue: 1, Delay: 10 * time.Millisecond},
		Deps{Connected: ask.connected})
	w.Offline([]string{"a", "b"}, []time.Time{time.Now(), time.Now()})
	w.Connect(1, "a", nil, "")
	if evs := b.events(1); len(evs) != 1 || evs[0].Type != "connect" {
		t.Fatalf("events %+v, want a's connect alone", evs)
	}
	closeHook(w)
	b.quiet()
	if q := ask.questions(); len(q) != 0 || w.Counters().Dropped != 0 {
		t.Fatalf("asked %v, dropped %d", q, w.Counters().Dropped)
	}
}

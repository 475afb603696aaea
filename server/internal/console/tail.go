package console

import (
	"sync"
	"sync/atomic"
	"time"
)

// Event is one line of the live tail.
type Event struct {
	T         time.Time `json:"t"`
	Type      string    `json:"type"` // connect, disconnect, slow_consumer, push, publish, broadcast, error, redis
	Node      string    `json:"node,omitempty"`
	User      string    `json:"user,omitempty"`
	Room      string    `json:"room,omitempty"`
	Conn      uint64    `json:"conn,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Code      int       `json:"code,omitempty"`
	ID        string    `json:"id,omitempty"`
	Bytes     int       `json:"bytes,omitempty"`
	Receivers int       `json:"receivers,omitempty"`
	Users     int       `json:"users,omitempty"` // users a push was for
	Detail    string    `json:"detail,omitempty"`
}

// Tail limits.
const (
	// TailWatchers caps the live tails open at once; one more is
	// answered 503.
	TailWatchers = 16
	// TailRate is the events a second one tail receives; past it events
	// are dropped and the tail is told how many, once a second.
	TailRate = 200
	// tailBuffer is each tail's queue; a full one drops, counted.
	tailBuffer = 512
)

// TailFilter keeps the events a tail asked for; empty fields match all.
type TailFilter struct {
	User, Room, Node string
	Types            map[string]bool
}

func (f *TailFilter) keep(e *Event) bool {
	return (f.User == "" || f.User == e.User) && (f.Room == "" || f.Room == e.Room) &&
		(f.Node == "" || f.Node == e.Node) && (len(f.Types) == 0 || f.Types[e.Type])
}

// Tail hands events to the live tails that watch. When nobody watches,
// the only cost to whoever has an event is On, one atomic load: callers
// check it before they build the event.
type Tail struct {
	n    atomic.Int32 // watchers
	mu   sync.Mutex
	subs map[*watcher]struct{}

	dropped atomic.Int64 // events dropped for full or rate-limited tails, ever
	emitted atomic.Int64
}

// watcher is one open tail.
type watcher struct {
	f     TailFilter
	ch    chan Event
	sec   int64 // the second the count is of
	inSec int
	drops atomic.Int64 // dropped since the last notice
}

// On reports whether anybody watches: an atomic load.
func (t *Tail) On() bool { return t.n.Load() > 0 }

// Emit hands e to every tail whose filter keeps it, never waiting: a full
// tail, or one past TailRate this second, drops it and counts. Any
// goroutine may call it, the event loops included.
func (t *Tail) Emit(e Event) {
	if e.T.IsZero() {
		e.T = time.Now()
	}
	sec := e.T.Unix()
	t.mu.Lock()
	defer t.mu.Unlock()
	for w := range t.subs {
		if !w.f.keep(&e) {
			continue
		}
		if w.sec != sec {
			w.sec, w.inSec = sec, 0
		}
		w.inSec++
		if w.inSec > TailRate {
			w.drops.Add(1)
			t.dropped.Add(1)
			continue
		}
		select {
		case w.ch <- e:
			t.emitted.Add(1)
		default:
			w.drops.Add(1)
			t.dropped.Add(1)
		}
	}
}

// watch opens a tail; nil when TailWatchers are open already.
func (t *Tail) watch(f TailFilter) *watcher {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.subs) >= TailWatchers {
		return nil
	}
	if t.subs == nil {
		t.subs = map[*watcher]struct{}{}
	}
	w := &watcher{f: f, ch: make(chan Event, tailBuffer)}
	t.subs[w] = struct{}{}
	t.n.Store(int32(len(t.subs)))
	return w
}

func (t *Tail) unwatch(w *watcher) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.subs, w)
	t.n.Store(int32(len(t.subs)))
}

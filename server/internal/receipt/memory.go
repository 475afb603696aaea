package receipt

import (
	"container/heap"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wspush/wspush/server/internal/wire"
)

// Defaults of the zero Config.
const (
	// DefaultMax caps the pending receipts (one per user of a message).
	DefaultMax = 1_000_000
	// DefaultKeep is how long a message's receipts stay readable after
	// its timeout.
	DefaultKeep = 10 * time.Minute
	// DefaultTick is how often the clock looks for timeouts passed: the
	// most a message.undelivered comes late.
	DefaultTick = 100 * time.Millisecond
	// MaxAckIDs caps the ids of one {"type":"received"} message.
	MaxAckIDs = 256
)

// Config configures the receipts. The zero value works and tells nobody.
type Config struct {
	// Max caps the pending receipts, one per user of each message that
	// asked for one; a push past it is refused (wire.ErrReceiptsFull).
	// Zero means DefaultMax.
	Max int
	// Keep is how long a message's receipts stay after its timeout, for
	// Status. Zero means DefaultKeep.
	Keep time.Duration
	// Tick is how often the clock looks for timeouts. Zero means
	// DefaultTick.
	Tick time.Duration
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Undelivered is told, once per message whose timeout passed, of the
	// users who did not acknowledge it and of its data. It runs on the
	// clock's goroutine (or Expire's caller), outside every lock; it
	// must only queue. Nil tells nobody.
	Undelivered func(id string, users []string, data []byte)
	// Received, when not nil, is told of each user's first
	// acknowledgement of id. It runs on the acknowledging goroutine (an
	// event loop) outside every lock; it must only queue.
	Received func(id, user string)
}

// WithDefaults returns c with its zero fields set.
func (c Config) WithDefaults() Config {
	if c.Max <= 0 {
		c.Max = DefaultMax
	}
	if c.Keep <= 0 {
		c.Keep = DefaultKeep
	}
	if c.Tick <= 0 {
		c.Tick = DefaultTick
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// message is one push's receipts. users is sorted; at[i] is users[i]'s
// state: 0 pending, > 0 received at that Unix ms, < 0 undelivered at
// minus that.
type message struct {
	id, key  string
	data     []byte
	deadline time.Time
	users    []string
	at       []int64
	expired  bool
}

// Memory keeps one node's receipts in memory. Its methods are safe for
// any goroutine; Ack holds the lock for a map look-up and a binary search
// per id, so an event loop may call it.
type Memory struct {
	cfg Config
	c   Counters

	mu      sync.Mutex
	msgs    map[string]*message // by id
	keys    map[string]*message // by key
	due     dueHeap             // messages before their timeout, soonest first
	kept    []*message          // messages past their timeout, in that order
	pending int

	startOnce, closeOnce sync.Once
	started              atomic.Bool
	quit, done           chan struct{}
}

// NewMemory returns the receipts of cfg, their clock not yet running
// (Start).
func NewMemory(cfg Config) *Memory {
	cfg = cfg.WithDefaults()
	m := &Memory{cfg: cfg, msgs: map[string]*message{}, keys: map[string]*message{}, quit: make(chan struct{}), done: make(chan struct{})}
	m.c.Max.Store(int64(cfg.Max))
	return m
}

// Begin starts the receipts of each of starts, under its Key, and says,
// for each, nil or why not: wire.ErrReceiptsFull past Config.Max pending
// receipts. A start whose id has receipts already (a retry of the same
// push) leaves them as they are, gets their Key, and is not refused. It keeps each start's Data and
// Users' strings: the caller must not modify them. ctx is unused: one
// node waits for nothing.
func (m *Memory) Begin(_ context.Context, starts []wire.ReceiptStart) []error {
	now := m.cfg.Now()
	errs := make([]error, len(starts))
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range starts {
		st := &starts[k]
		if old, ok := m.msgs[st.ID]; ok {
			st.Key = old.key
			continue
		}
		if m.pending+len(st.Users) > m.cfg.Max {
			m.c.Refused.Add(1)
			errs[k] = wire.ErrReceiptsFull
			continue
		}
		msg := &message{id: st.ID, key: st.Key, data: st.Data, deadline: now.Add(st.Timeout), users: slices.Clone(st.Users), at: make([]int64, len(st.Users))}
		slices.Sort(msg.users)
		m.msgs[st.ID] = msg
		m.keys[st.Key] = msg
		heap.Push(&m.due, msg)
		m.pending += len(st.Users)
		m.c.Messages.Add(1)
	}
	m.c.Pending.Store(int64(m.pending))
	return errs
}

// Ack applies user's acknowledgement of keys (the "receipt" of each
// push's envelope): each pending receipt of user among them becomes
// received. Keys of no receipt (a message id, say, which may be
// guessed), of receipts that are not user's, or no longer pending change
// nothing. It returns how many it applied. keys are only read.
func (m *Memory) Ack(user string, keys []string) int {
	now := m.cfg.Now().UnixMilli()
	var got []string // for Config.Received
	n := 0
	m.mu.Lock()
	for _, key := range keys {
		msg, ok := m.keys[key]
		if !ok || msg.expired {
			continue
		}
		i, found := slices.BinarySearch(msg.users, user)
		if !found || msg.at[i] != 0 {
			continue
		}
		msg.at[i] = now
		m.pending--
		n++
		if m.cfg.Received != nil {
			got = append(got, msg.id)
		}
	}
	m.c.Pending.Store(int64(m.pending))
	m.mu.Unlock()
	m.c.acked(n, len(keys)-n)
	for _, id := range got {
		m.cfg.Received(id, user)
	}
	return n
}

// Status is the receipt of message id per user, or wire.ErrNoReceipt.
func (m *Memory) Status(_ context.Context, id string) (wire.Receipt, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	msg, ok := m.msgs[id]
	if !ok {
		return wire.Receipt{}, wire.ErrNoReceipt
	}
	r := wire.Receipt{ID: id, Deadline: msg.deadline.UnixMilli(), Users: make([]wire.UserReceipt, len(msg.users))}
	for i, u := range msg.users {
		r.Users[i] = userReceipt(u, msg.at[i])
	}
	r.Count()
	return r, nil
}

// userReceipt is user's receipt from its state at.
func userReceipt(user string, at int64) wire.UserReceipt {
	switch {
	case at > 0:
		return wire.UserReceipt{User: user, State: wire.ReceiptReceived, At: at}
	case at < 0:
		return wire.UserReceipt{User: user, State: wire.ReceiptUndelivered, At: -at}
	}
	return wire.UserReceipt{User: user, State: wire.ReceiptPending}
}

// Expire gives up the receipts whose timeout passed by now: their
// pending users become undelivered and Config.Undelivered is told, once
// per message; and it drops the messages kept past Config.Keep. The clock
// calls it every Config.Tick; tests call it with the time they want.
func (m *Memory) Expire(now time.Time) {
	type gone struct {
		id    string
		users []string
		data  []byte
	}
	var out []gone
	ms := now.UnixMilli()
	m.mu.Lock()
	for len(m.due) > 0 && !m.due[0].deadline.After(now) {
		msg := heap.Pop(&m.due).(*message)
		msg.expired = true
		var users []string
		for i, a := range msg.at {
			if a == 0 {
				msg.at[i] = -ms
				users = append(users, msg.users[i])
			}
		}
		m.pending -= len(users)
		m.kept = append(m.kept, msg)
		if len(users) > 0 {
			out = append(out, gone{msg.id, users, msg.data})
		}
		m.c.Undelivered.Add(int64(len(users)))
	}
	for len(m.kept) > 0 && !m.kept[0].deadline.Add(m.cfg.Keep).After(now) {
		delete(m.msgs, m.kept[0].id)
		delete(m.keys, m.kept[0].key)
		m.kept[0] = nil
		m.kept = m.kept[1:]
		m.c.Messages.Add(-1)
	}
	m.c.Pending.Store(int64(m.pending))
	m.mu.Unlock()
	if m.cfg.Undelivered != nil {
		for _, g := range out {
			m.cfg.Undelivered(g.id, g.users, g.data)
		}
	}
}

// Start runs the clock: Expire every Config.Tick until Close.
func (m *Memory) Start() {
	m.startOnce.Do(func() {
		m.started.Store(true)
		go func() {
			defer close(m.done)
			t := time.NewTicker(m.cfg.Tick)
			defer t.Stop()
			for {
				select {
				case <-m.quit:
					return
				case <-t.C:
					m.Expire(m.cfg.Now())
				}
			}
		}()
	})
}

// Close stops the clock, if it runs. Receipts still pending are not told
// of: on one node they go with the process, as its history does.
func (m *Memory) Close() {
	m.closeOnce.Do(func() {
		close(m.quit)
		if m.started.Load() {
			<-m.done
		}
	})
}

// Counters are the receipts' counters, for the metrics.
func (m *Memory) Counters() *Counters { return &m.c }

// Collector returns the receipts' metrics.
func (m *Memory) Collector() prometheus.Collector { return m.c.Collector() }

// dueHeap orders messages by deadline.
type dueHeap []*message

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(*message)) }
func (h *dueHeap) Pop() any {
	old := *h
	msg := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return msg
}

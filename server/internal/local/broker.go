// Package local is a single node's broker: the server's verbs (push,
// publish, broadcast, a client's publish and send, room and user control)
// go straight to this node's event loops, each message encoded once and
// kept in the in-memory history on the way when there is one. It has the
// method set of the cluster's broker (package cluster), so the server
// picks one of the two at start and then calls it without asking which
// (docs/design.md, "The rooms").
//
//	b := local.New(local.Config{HistorySize: 100, HistoryTTL: time.Minute})
//	eng := engine.New(ecfg, hooks, b.Store())
//	b.Bind(eng)
//	res, err := b.Push(ctx, "", []string{"alice"}, data, "")
package local

import (
	"context"
	"encoding/json"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wspush/wspush/server/internal/engine"
	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/presence"
	"github.com/wspush/wspush/server/internal/wire"
)

// Config configures a single node's broker. The zero value keeps no
// history.
type Config struct {
	// HistorySize is how many messages are kept per stream (each user's
	// and each room's) for clients that resume. Zero, or a zero
	// HistoryTTL, keeps none: pushes then carry no position.
	HistorySize int
	// HistoryTTL is how long a kept message stays.
	HistoryTTL time.Duration
	// HistoryMaxBytes caps the history's memory; past it the oldest
	// messages of all streams go first. It must be positive when there is
	// a history (the server's Config fills it in).
	HistoryMaxBytes int64
	// Grace is the offline grace (nil: none): a user stays online for
	// Presence that long after its last connection closed.
	Grace *presence.Grace
	// Start is when the server started: the history holds what came
	// since (a resume from before it is told of a gap). Zero means now.
	Start time.Time
	// Now is the clock of who left recently. Nil means time.Now.
	Now func() time.Time
}

// Broker delivers on this node. Its methods are safe from any goroutine;
// those an event loop calls (Arrived, Leaving, Left, Joined, Queue*)
// never block.
type Broker struct {
	eng   *engine.Engine
	hist  *history.Memory // nil: no history
	clock history.Clock
	// recent holds the users who left within the history's TTL: their
	// streams are kept, those of users never seen are not.
	recent *presence.Tracker
	grace  *presence.Grace // nil: no grace
	now    func() time.Time
}

// New returns the broker for cfg. Bind gives it its engine.
func New(cfg Config) *Broker {
	b := &Broker{grace: cfg.Grace, now: cfg.Now}
	if b.now == nil {
		b.now = time.Now
	}
	if cfg.HistorySize > 0 && cfg.HistoryTTL > 0 {
		start := cfg.Start
		if start.IsZero() {
			start = time.Now()
		}
		b.hist = history.NewMemory(cfg.HistorySize, cfg.HistoryTTL, cfg.HistoryMaxBytes, start, b.clock.Next(start))
		b.recent = presence.New(cfg.HistoryTTL, nil)
	}
	return b
}

// Bind makes eng the engine the broker delivers to. It must be called
// once, before anything is sent.
func (b *Broker) Bind(eng *engine.Engine) { b.eng = eng }

// Store is where the engine's resumes read the history; nil without one.
func (b *Broker) Store() history.Store {
	if b.hist == nil {
		return nil
	}
	return b.hist
}

// Start starts nothing: a single node has no goroutine of its own.
func (b *Broker) Start() {}

// Close stops nothing.
func (b *Broker) Close() {}

// Up reports that the broker can take messages: always, on one node.
func (b *Broker) Up() bool { return true }

// Push sends data to every connection of each of users. History keeps it
// in the streams of the users connected and of those gone for less than
// the TTL, from the engine's one look-up of who is connected, before any
// loop writes it (the engine's resume relies on it).
func (b *Broker) Push(ctx context.Context, id string, users []string, data json.RawMessage, from string) (wire.PushResult, error) {
	f, p := b.encode(id, data, "", from, nil, true)
	d, err := b.eng.DeliverUsers(ctx, users, f, p, b.keeper(f, p))
	return wire.PushResult{Delivered: d.Delivered, Online: d.Online, Offline: d.Offline}, err
}

// Publish sends data to every member of room.
func (b *Broker) Publish(ctx context.Context, id, room string, data json.RawMessage, from string) (wire.PushResult, error) {
	f, p := b.encode(id, data, room, from, nil, true)
	n, err := b.eng.DeliverRoom(ctx, room, f, p)
	return wire.PushResult{Delivered: n}, err
}

// Broadcast sends data to every connection. Broadcasts are never kept.
func (b *Broker) Broadcast(ctx context.Context, id string, data json.RawMessage) (wire.PushResult, error) {
	var n uint64
	if id == "" {
		n = b.eng.NextID()
	}
	f := wire.PushFrame(n, id, data, "", "", 0, time.Now().UnixMilli())
	d, err := b.eng.DeliverAll(ctx, f)
	return wire.PushResult{Delivered: d}, err
}

// QueuePublish is a client's publish of data to room: queued on the
// loops, never waited for.
func (b *Broker) QueuePublish(room string, data []byte, from string) error {
	f, p := b.encode("", data, room, from, nil, false)
	return b.eng.PostRoom(room, f, p)
}

// QueuePush is a client's send of data to the connections of user to.
func (b *Broker) QueuePush(to string, data []byte, from string) error {
	users := []string{to}
	f, p := b.encode("", data, "", from, users, false)
	return b.eng.PostUsers(users, f, p)
}

// Control has no other node to tell.
func (b *Broker) Control(context.Context, string, string, []string) error { return nil }

// Presence is what this node knows of user: its connections, and whether
// it is online (connected, or gone for less than the offline grace).
func (b *Broker) Presence(_ context.Context, user string) (wire.Presence, error) {
	n := b.eng.UserConns(user)
	return wire.Presence{User: user, Online: b.grace.Online(user, n), Connections: n}, nil
}

// Connected has no other node to ask: nobody is connected elsewhere.
func (b *Broker) Connected(context.Context, []string) ([]bool, error) { return nil, nil }

// Arrived notes a new connection of user: its stream is kept again.
func (b *Broker) Arrived(user string) {
	if b.recent != nil {
		b.recent.Back(user)
	}
}

// Leaving marks user as recently gone before its connection leaves the
// pool, whether or not it is the last: a push in between must still be
// kept for the user's resume (encode keeps it for a user connected or
// recent). A user marked so while still connected costs one entry until
// it connects again or the TTL passes.
func (b *Broker) Leaving(user string) {
	if b.recent != nil {
		b.recent.Left(user, b.now())
	}
}

// Left needs nothing more: Leaving marked the user.
func (b *Broker) Left(string) {}

// Joined needs nothing: a room's stream is kept while it has members.
func (b *Broker) Joined(string) {}

// Report adds the history's figures to st.
func (b *Broker) Report(st *wire.Stats) {
	if b.hist != nil {
		hs := b.hist.Stats()
		st.History = &hs
	}
}

// Collectors are the history's metrics, none without one.
func (b *Broker) Collectors() []prometheus.Collector {
	if b.hist == nil {
		return nil
	}
	return []prometheus.Collector{b.hist.Collector()}
}

// encode builds the frame of a message to room (or, room empty, to users)
// and keeps it in the history, if any, with its position. History is kept
// only for streams that can use it: a user connected or gone for less
// than the TTL (the offline ones are those most likely to come back for
// it; a user never seen is not), a room with members here or one the
// backend publishes to (byBackend). Push passes no users and keeps the
// message in their streams itself.
func (b *Broker) encode(id string, data []byte, room, from string, users []string, byBackend bool) ([]byte, history.Pos) {
	var n uint64
	if id == "" {
		n = b.eng.NextID()
	}
	if b.hist == nil {
		return wire.PushFrame(n, id, data, room, from, 0, time.Now().UnixMilli()), 0
	}
	now := time.Now()
	p := b.clock.Next(now)
	f := wire.PushFrame(n, id, data, room, from, p, now.UnixMilli())
	if room != "" {
		if byBackend || b.eng.HasRoom(room) {
			b.hist.Add(history.RoomStream(room), p, f, now)
		}
	} else {
		for _, u := range users {
			if b.eng.UserConns(u) > 0 || b.recent.Within(u, now) {
				b.hist.Add(history.UserStream(u), p, f, now)
			}
		}
	}
	return f, p
}

package engine

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/wspush/wspush/pool"
	"github.com/wspush/wspush/server/internal/wire"
)

// What the operator console asks of the engine (docs/console.md): pages of
// the directory of connections, one connection's state, the recent
// closes, and disconnects with a reason. Each is safe from any goroutine;
// those that read a connection's state run on its loop and wait for it
// within ctx.

// ErrNoConn is a connection id that is not connected here.
var ErrNoConn = wire.ErrNoConn

// Page reads one page of the directory of connections.
func (s *Engine) Page(q Query) (Page, error) { return s.dir.page(q, time.Now()) }

// Cursor is the position just after connection c in a page's order (by
// user, or by id when oldest), as a page's Next: what a cluster-wide page
// hands each node to go on from.
func (s *Engine) Cursor(c wire.ConnInfo, oldest bool) string {
	return cursor(&dirRow{user: c.User, id: c.ID}, oldest)
}

// ConnsOf lists user's connections on this node, from the directory.
func (s *Engine) ConnsOf(user string) []wire.ConnInfo { return s.dir.user(user) }

// Closed lists the connections that closed last on this node, newest
// first: user's, or anyone's for "", at most limit (the ring keeps
// ClosedRing).
func (s *Engine) Closed(user string, limit int) []wire.ClosedConn { return s.dir.recent(user, limit) }

// member finds connection id in the directory, or nil. Whether it is
// still in the pool is for its loop to say (m.Live).
func (s *Engine) member(id uint64) (*pool.Member, dirRow) {
	r, ok := s.dir.get(id)
	if !ok {
		return nil, r
	}
	return &r.s.m, r
}

// onConn runs f on the loop of connection id, if it is still open, and
// waits for it within ctx.
func (s *Engine) onConn(ctx context.Context, id uint64, f func(c *conn)) error {
	m, _ := s.member(id)
	if m == nil {
		return ErrNoConn
	}
	found := false
	_, err := s.fan(ctx, true, func(i int) bool { return i == m.Shard() }, func(*loop) job {
		return job{fn: func(*loop) int {
			if m.Live() {
				found = true
				f(m.Conn.(*conn))
			}
			return 0
		}}
	})
	if err != nil {
		return err
	}
	if !found {
		return ErrNoConn
	}
	return nil
}

// ConnDetail is connection id's state, read on its loop.
func (s *Engine) ConnDetail(ctx context.Context, id uint64) (wire.ConnDetail, error) {
	var d wire.ConnDetail
	_, e := s.member(id)
	err := s.onConn(ctx, id, func(c *conn) {
		d.ConnInfo = e.info()
		d.Rooms = []string{}
		s.pool.Rooms(&c.sess.m, func(room string) { d.Rooms = append(d.Rooms, room) })
		slices.Sort(d.Rooms)
		d.LagBytes = int64(c.lagBytes())
		d.QueuedBytes = d.LagBytes
		if c.backlog {
			d.QueuedBytes += int64(c.gc.OutboundBuffered())
		}
		d.LastActivity = s.start.Add(time.Duration(c.seen) * tick)
		d.RateTokens = float64(c.sess.rate.tokens)
		d.Resuming = c.sess.resuming
	})
	return d, err
}

// Disconnect closes connection id with the kicked disconnect (4500, do not
// reconnect), reason replacing the table's text when set: the client reads
// it in the disconnect message and the close frame.
func (s *Engine) Disconnect(ctx context.Context, id uint64, reason string) error {
	return s.onConn(ctx, id, func(c *conn) {
		if reason != "" {
			s.dir.setDetail(&c.sess.m, reason)
		}
		c.disconnect(wire.DisconnectKicked, reason)
	})
}

// KickWith is Kick with a reason the clients read, as Disconnect.
func (s *Engine) KickWith(ctx context.Context, user, reason string) (int, error) {
	return s.control(ctx, true, OpKick, reason, []string{user})
}

// TopQueued lists the k connections with the most bytes queued, worst
// first. Only connections with a lag (frames waiting beyond gnet's 16 KiB
// share, lag.go) are candidates: each loop keeps a list of them, so no
// loop walks its connections.
func (s *Engine) TopQueued(ctx context.Context, k int) []wire.Queued {
	var mu sync.Mutex
	var out []wire.Queued
	_, _ = s.fan(ctx, true, nil, func(*loop) job {
		return job{fn: func(l *loop) int {
			mine := make([]wire.Queued, 0, len(l.lagging))
			for _, c := range l.lagging {
				if c.sess == nil || c.state != stateOpen {
					continue
				}
				lb := int64(c.lagBytes())
				mine = append(mine, wire.Queued{ID: c.sess.m.ID(), User: c.sess.m.User, LagBytes: lb,
					QueuedBytes: lb + int64(c.gc.OutboundBuffered())})
			}
			mu.Lock()
			out = append(out, mine...)
			mu.Unlock()
			return 0
		}}
	})
	mu.Lock()
	defer mu.Unlock()
	slices.SortFunc(out, func(a, b wire.Queued) int { return int(b.QueuedBytes - a.QueuedBytes) })
	if len(out) > k {
		out = out[:k]
	}
	return append([]wire.Queued{}, out...)
}

// RoomMembers lists up to limit of room's connections on this node, and
// its member count here. Only the loops with members are asked, and each
// walks the room's own list, not its connections.
func (s *Engine) RoomMembers(ctx context.Context, room string, limit int) ([]wire.ConnInfo, int) {
	r := s.pool.Room(room)
	if r == nil {
		return []wire.ConnInfo{}, 0
	}
	var mu sync.Mutex
	var ids []uint64
	_, _ = s.fan(ctx, true, func(i int) bool { return r.On(i) > 0 }, func(*loop) job {
		return job{fn: func(l *loop) int {
			mu.Lock()
			defer mu.Unlock()
			s.pool.Shard(l.idx).EachInRoom(room, func(m *pool.Member) {
				if len(ids) < limit {
					ids = append(ids, m.ID())
				}
			})
			return 0
		}}
	})
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(ids)
	out := make([]wire.ConnInfo, 0, len(ids))
	for _, id := range ids {
		if e, ok := s.dir.get(id); ok {
			out = append(out, e.info())
		}
	}
	return out, r.Len()
}

// LoopLag is how long a job waits in the slowest loop's outbox before it
// runs: a no-op posted to every loop, timed, within ctx. It wakes every
// loop once, so the console asks only while someone watches its overview.
func (s *Engine) LoopLag(ctx context.Context) (time.Duration, error) {
	var mu sync.Mutex
	var worst time.Duration
	start := time.Now()
	_, err := s.fan(ctx, true, nil, func(*loop) job {
		return job{fn: func(*loop) int {
			d := time.Since(start)
			mu.Lock()
			worst = max(worst, d)
			mu.Unlock()
			return 0
		}}
	})
	mu.Lock()
	defer mu.Unlock()
	return worst, err
}

package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/wspush/wspush/pool"
	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/wire"
)

// Fan-out: a message is encoded once into one frame (wire.PushFrame), and
// every event loop that has receivers gets one job that writes those
// shared bytes to each of its own receivers. Nothing is done per receiver
// but the write. These are the engine's doors for everything that sends:
// the HTTP API through the server, the cluster, client publishes. Every
// method is safe from any goroutine; Deliver* wait for the loops (or ctx),
// Post* only queue. A frame handed to them is shared and never modified.

// ErrBusy is returned when an event loop's outbox is full (Config.MaxQueue):
// the message reached the loops that took it, not the others.
var ErrBusy = fmt.Errorf("engine: an event loop's queue is full: %w", wire.ErrBusy)

// NextID returns a new message id, unique on this node: the N of "mN" in
// a push envelope.
func (s *Engine) NextID() uint64 { return s.msgID.Add(1) }

// DeliverUsers writes f, a message of the users' streams at position p
// (0: none), to this node's connections of users, and waits until every
// loop has written it or ctx ends. keep, when not nil, is called with the
// users found with and without a connection here before any loop is
// handed the message: the history keeps a message before its live jobs
// (resume.go), and this way from the one pool look-up per user.
func (s *Engine) DeliverUsers(ctx context.Context, users []string, f []byte, p history.Pos, keep func(online, offline []string)) (wire.Delivery, error) {
	byShard, online, offline := s.membersOf(users)
	if keep != nil {
		keep(online, offline)
	}
	d := wire.Delivery{Online: online, Offline: offline}
	if len(online) == 0 {
		return d, nil
	}
	n, err := s.fan(ctx, true, func(i int) bool { return len(byShard[i]) > 0 }, func(l *loop) job {
		return job{frame: f, members: byShard[l.idx], pos: p}
	})
	d.Delivered = n
	return d, err
}

// PostUsers is DeliverUsers without the wait.
func (s *Engine) PostUsers(users []string, f []byte, p history.Pos) error {
	byShard, online, _ := s.membersOf(users)
	if len(online) == 0 {
		return nil
	}
	_, err := s.fan(context.Background(), false, func(i int) bool { return len(byShard[i]) > 0 }, func(l *loop) job {
		return job{frame: f, members: byShard[l.idx], pos: p}
	})
	return err
}

// DeliverRoom writes f, a message of room's stream at p, to this node's
// members of room and waits for the loops or ctx.
func (s *Engine) DeliverRoom(ctx context.Context, room string, f []byte, p history.Pos) (int, error) {
	return s.room(ctx, true, room, f, p)
}

// PostRoom is DeliverRoom without the wait.
func (s *Engine) PostRoom(room string, f []byte, p history.Pos) error {
	_, err := s.room(context.Background(), false, room, f, p)
	return err
}

func (s *Engine) room(ctx context.Context, wait bool, room string, f []byte, p history.Pos) (int, error) {
	r := s.pool.Room(room)
	if r == nil {
		return 0, nil
	}
	return s.fan(ctx, wait, func(i int) bool { return r.On(i) > 0 }, func(*loop) job {
		return job{frame: f, room: r.Name(), pos: p}
	})
}

// DeliverAll writes f to every connection of this node and waits for the
// loops or ctx.
func (s *Engine) DeliverAll(ctx context.Context, f []byte) (int, error) {
	return s.fan(ctx, true, nil, func(*loop) job { return job{frame: f, all: true} })
}

// PostAll is DeliverAll without the wait.
func (s *Engine) PostAll(f []byte) error {
	_, err := s.fan(context.Background(), false, nil, func(*loop) job { return job{frame: f, all: true} })
	return err
}

// sendAll writes frame, a message of the user stream at p (0: none), to
// each live member of ms and counts the writes. A member whose connection
// is resuming may skip it (resume.go).
func sendAll(ms []*pool.Member, frame []byte, p history.Pos) int {
	n := 0
	for _, m := range ms {
		if !m.Live() {
			continue
		}
		if c := m.Conn.(*conn); p != 0 && c.sess.resuming && c.sess.resume(c.l).skipUser(p, c.l.now, c.l.s) {
			continue
		}
		if m.Conn.Send(frame) == nil {
			n++
		}
	}
	return n
}

// membersOf looks up the connections of users, grouped by pool shard, and
// splits users into online and offline. When every user is online, online
// is users itself (the callers only read both). A user whose connections
// are all on one shard, the usual case, gives that shard the slice the
// pool look-up filled, without a copy: a push to one user allocates only
// the look-up and byShard.
func (s *Engine) membersOf(users []string) (byShard [][]*pool.Member, online, offline []string) {
	byShard = make([][]*pool.Member, s.pool.Shards())
	offline = []string{}
	all := true // users[:i] are all online, and online is not built yet
	var buf []*pool.Member
	for i, u := range users {
		buf = s.pool.User(u, buf[:0])
		if len(buf) == 0 {
			if all {
				online, all = append(make([]string, 0, len(users)-1), users[:i]...), false
			}
			offline = append(offline, u)
			continue
		}
		if !all {
			online = append(online, u)
		}
		if sh := buf[0].Shard(); byShard[sh] == nil && oneShard(buf) {
			byShard[sh] = buf[:len(buf):len(buf)] // full: an append elsewhere copies
			buf = buf[len(buf):]
			continue
		}
		for _, m := range buf {
			byShard[m.Shard()] = append(byShard[m.Shard()], m)
		}
		buf = buf[:0]
	}
	if all {
		online = users
		if online == nil {
			online = []string{}
		}
	}
	return byShard, online, offline
}

// oneShard reports whether the members ms are all on one shard.
func oneShard(ms []*pool.Member) bool {
	for _, m := range ms[1:] {
		if m.Shard() != ms[0].Shard() {
			return false
		}
	}
	return true
}

// onMembers runs f on the loop of each connection of users and sums what
// f returns; with wait, it waits for the loops or ctx.
func (s *Engine) onMembers(ctx context.Context, wait bool, users []string, f func(*pool.Member) int) (int, error) {
	byShard, _, _ := s.membersOf(users)
	return s.fan(ctx, wait, func(i int) bool { return len(byShard[i]) > 0 }, func(l *loop) job {
		return job{fn: func(*loop) int {
			n := 0
			for _, m := range byShard[l.idx] {
				if m.Live() {
					n += f(m)
				}
			}
			return n
		}}
	})
}

// Control operations on connections, for AddToRoom, RemoveFromRoom, Kick
// and PostControl.
const (
	OpJoin  = "join"
	OpLeave = "leave"
	OpKick  = "kick"
)

// AddToRoom puts every connection of users on this node in room, whatever
// their tokens allow, and reports how many connections joined.
//
// The membership sticks to the user: connections the user opens later join
// room too, until RemoveFromRoom. Mini-programs reconnect all the time;
// without this a room the backend chose would be lost at the first one.
func (s *Engine) AddToRoom(ctx context.Context, room string, users []string) (int, error) {
	return s.control(ctx, true, OpJoin, room, users)
}

// RemoveFromRoom takes every connection of users on this node out of room,
// and their later connections too, and reports how many left it.
func (s *Engine) RemoveFromRoom(ctx context.Context, room string, users []string) (int, error) {
	return s.control(ctx, true, OpLeave, room, users)
}

// Kick disconnects every connection of user on this node with the kicked
// disconnect and reports how many.
func (s *Engine) Kick(ctx context.Context, user string) (int, error) {
	return s.control(ctx, true, OpKick, "", []string{user})
}

// PostControl applies op (OpJoin, OpLeave or OpKick) to this node's
// connections of users without waiting: for control messages from other
// nodes. For OpKick, room is the reason the clients read ("" for the
// table's).
func (s *Engine) PostControl(op, room string, users []string) error {
	_, err := s.control(context.Background(), false, op, room, users)
	return err
}

func (s *Engine) control(ctx context.Context, wait bool, op, room string, users []string) (int, error) {
	switch op {
	case OpJoin:
		for _, u := range users {
			if _, err := s.pool.Keep(u, room); err != nil {
				return 0, fmt.Errorf("keep %s in room %s: %w", u, room, err)
			}
		}
		return s.onMembers(ctx, wait, users, func(m *pool.Member) int {
			if ok, _ := s.pool.Join(m, room); ok {
				s.joined(m, room)
				return 1
			}
			return 0
		})
	case OpLeave:
		for _, u := range users {
			s.pool.Unkeep(u, room)
		}
		return s.onMembers(ctx, wait, users, func(m *pool.Member) int {
			if s.pool.Leave(m, room) {
				s.parted(m, room)
				return 1
			}
			return 0
		})
	case OpKick:
		// A kick's "room" is the reason its clients read, "" for the
		// table's (the console's kicks give one, docs/console.md). A
		// close frame's reason holds at most 123 bytes of UTF-8.
		if len(room) > 123 || !utf8.ValidString(room) {
			room = ""
		}
		return s.onMembers(ctx, wait, users, func(m *pool.Member) int {
			if room != "" {
				s.dir.setDetail(m, room)
			}
			m.Conn.(*conn).disconnect(wire.DisconnectKicked, room)
			return 1
		})
	}
	return 0, fmt.Errorf("engine: unknown control operation %q", op)
}

// PostGap tells this node's connections of users, or the members of room
// when room is set, that messages of that stream may be lost:
// {"type":"gap","room":R,"pos":P}, as a resume that goes too far back does.
// It does not wait for the loops.
func (s *Engine) PostGap(users []string, room string, from history.Pos) error {
	if room != "" {
		r := s.pool.Room(room)
		if r == nil {
			return nil
		}
		_, err := s.fan(context.Background(), false, func(i int) bool { return r.On(i) > 0 }, func(l *loop) job {
			return job{fn: func(l *loop) int {
				s.pool.Shard(l.idx).EachInRoom(room, func(m *pool.Member) {
					if c := m.Conn.(*conn); c.state == stateOpen {
						c.writeGap(room, from)
					}
				})
				return 0
			}}
		})
		return err
	}
	_, err := s.onMembers(context.Background(), false, users, func(m *pool.Member) int {
		if c := m.Conn.(*conn); c.state == stateOpen {
			c.writeGap("", from)
		}
		return 1
	})
	return err
}

// replaceOldest closes user's oldest connection with the replaced
// disconnect, on its own loop: the user is at Config.MaxUserConns and a
// new connection comes. It runs on a loop and does not wait.
func (s *Engine) replaceOldest(user string) {
	ms := s.pool.User(user, nil)
	if len(ms) == 0 {
		return
	}
	m := ms[len(ms)-1] // the user's list has the newest first
	loops := s.loopList()
	if m.Shard() >= len(loops) {
		return
	}
	s.replaced.Add(1)
	loops[m.Shard()].post(job{fn: func(*loop) int {
		if m.Live() {
			m.Conn.(*conn).disconnect(wire.DisconnectReplaced, "")
		}
		return 0
	}})
}

// UserConns is the number of connections user has open on this node.
func (s *Engine) UserConns(user string) int { return s.pool.UserConns(user) }

// Users is the number of users with a connection on this node.
func (s *Engine) Users() int { return s.pool.Users() }

// HasRoom reports whether room has a member on this node.
func (s *Engine) HasRoom(room string) bool { return s.pool.Room(room) != nil }

// LocalUsers lists the users connected to this node, asking each loop, or
// as many as the loops listed before ctx ended.
func (s *Engine) LocalUsers(ctx context.Context) []string {
	var mu sync.Mutex
	seen := map[string]struct{}{}
	_, _ = s.fan(ctx, true, nil, func(*loop) job {
		return job{fn: func(l *loop) int {
			mu.Lock()
			defer mu.Unlock()
			s.pool.Shard(l.idx).Each(func(m *pool.Member) { seen[m.User] = struct{}{} })
			return 0
		}}
	})
	mu.Lock()
	defer mu.Unlock()
	users := make([]string, 0, len(seen))
	for u := range seen {
		users = append(users, u)
	}
	return users
}

// retryAfter is the reconnect delay a disconnect d asks of its client: for
// going_away, a random share of Config.DrainSpread, so that the clients of
// a server shutting down do not all come back at once; zero otherwise.
func (s *Engine) retryAfter(d wire.Disconnect) time.Duration {
	if d.Code != wire.DisconnectGoingAway.Code || s.cfg.DrainSpread <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(s.cfg.DrainSpread))) + time.Millisecond
}

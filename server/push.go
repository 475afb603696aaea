package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/frame"
	"github.com/wspush/wspush/pool"
)

// Fan-out: a message is encoded once into one frame, and every event loop
// that has receivers gets one task that writes those shared bytes to each
// of its own receivers. Nothing is done per receiver but the write.

// encodePush builds the frame of a push envelope:
// {"type":"push","id":"m1","pos":P,"data":DATA,"ts":MS,"room":R,"from":F},
// with pos only when p is not zero (history on), room and from only when
// set. The frame is shared by every receiver and must not be modified.
func (s *Server) encodePush(data json.RawMessage, room, from string, p pos) []byte {
	b := s.appendEnvelopeHead(make([]byte, 0, 96+len(data)+len(room)+len(from)))
	if p != 0 {
		b = append(b, `,"pos":"`...)
		b = appendPos(b, p)
		b = append(b, '"')
	}
	b = appendEnvelopeTail(b, data, room, from)
	return frame.AppendFrame(make([]byte, 0, frame.FrameSize(len(b))), ws.OpText, b)
}

// appendEnvelopeHead appends {"type":"push","id":"mN" to b.
func (s *Server) appendEnvelopeHead(b []byte) []byte {
	b = append(b, `{"type":"push","id":"m`...)
	b = strconv.AppendUint(b, s.msgID.Add(1), 10)
	return append(b, '"')
}

// appendEnvelopeTail appends the rest of an envelope after its id and pos.
func appendEnvelopeTail(b []byte, data json.RawMessage, room, from string) []byte {
	b = append(b, `,"data":`...)
	b = append(b, data...)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, time.Now().UnixMilli(), 10)
	if room != "" {
		b = append(b, `,"room":`...)
		b = appendJSONString(b, room)
	}
	if from != "" {
		b = append(b, `,"from":`...)
		b = appendJSONString(b, from)
	}
	return append(b, '}')
}

// sendAll writes frame, a message of the user stream at p (0: none), to
// each live member of ms and counts the writes. A member whose connection
// is resuming may skip it (resume.go).
func sendAll(ms []*pool.Member, frame []byte, p pos) int {
	n := 0
	for _, m := range ms {
		if !m.Live() {
			continue
		}
		if c := m.Conn.(*conn); p != 0 && c.sess.rs != nil && c.sess.rs.skipUser(p, c.l.now, c.l.s) {
			continue
		}
		if m.Conn.Send(frame) == nil {
			n++
		}
	}
	return n
}

// Broadcast sends data to every connection and reports to how many.
func (s *Server) Broadcast(ctx context.Context, data json.RawMessage) (int, error) {
	if s.cl != nil {
		return s.cl.publish(ctx, clusterMsg{kind: kindBroadcast, data: data})
	}
	f := s.encodePush(data, "", "", 0)
	return s.fan(ctx, nil, func(*loop) job { return job{frame: f, all: true} })
}

// Publish sends data to every member of room and reports to how many.
func (s *Server) Publish(ctx context.Context, room string, data json.RawMessage) (int, error) {
	return s.publish(room, data, "", ctx)
}

func (s *Server) publish(room string, data json.RawMessage, from string, ctx context.Context) (int, error) {
	if s.cl != nil {
		return s.cl.publish(ctx, clusterMsg{kind: kindPublish, room: room, data: data, from: from})
	}
	var p pos
	var f []byte
	if s.hist != nil {
		now := time.Now()
		p = s.clock.next(now)
		f = s.encodePush(data, room, from, p)
		s.hist.add(roomStream(room), p, f, now)
	}
	r := s.pool.Room(room)
	if r == nil {
		return 0, nil
	}
	if f == nil {
		f = s.encodePush(data, room, from, 0)
	}
	return s.publishFrame(ctx, r, f, p)
}

// publishFrame fans out frame, a message of room r's stream at p, to the
// room's members on every loop.
func (s *Server) publishFrame(ctx context.Context, r *pool.Room, f []byte, p pos) (int, error) {
	return s.fan(ctx, func(i int) bool { return r.On(i) > 0 }, func(*loop) job {
		return job{frame: f, room: r.Name(), pos: p}
	})
}

// PushResult is what a push to users did.
type PushResult struct {
	Delivered int      `json:"delivered"`
	Online    []string `json:"online"`
	Offline   []string `json:"offline"`
}

// Push sends data to every connection of each of users.
func (s *Server) Push(ctx context.Context, users []string, data json.RawMessage) (PushResult, error) {
	return s.pushUsers(users, data, "", ctx)
}

func (s *Server) pushUsers(users []string, data json.RawMessage, from string, ctx context.Context) (PushResult, error) {
	if s.cl != nil {
		return s.cl.push(ctx, users, data, from)
	}
	res := PushResult{Online: []string{}, Offline: []string{}}
	var p pos
	var f []byte
	if s.hist != nil {
		// Kept for every user, online or not: the offline ones are those
		// most likely to come back for it.
		now := time.Now()
		p = s.clock.next(now)
		f = s.encodePush(data, "", from, p)
		for _, u := range users {
			s.hist.add(userStream(u), p, f, now)
		}
	}
	byShard, online, offline := s.membersOf(users)
	res.Online, res.Offline = online, offline
	if len(online) == 0 {
		return res, nil
	}
	if f == nil {
		f = s.encodePush(data, "", from, 0)
	}
	n, err := s.fan(ctx, func(i int) bool { return len(byShard[i]) > 0 }, func(l *loop) job {
		return job{frame: f, members: byShard[l.idx], pos: p}
	})
	res.Delivered = n
	return res, err
}

// membersOf looks up the connections of users, grouped by pool shard, and
// splits users into online and offline.
func (s *Server) membersOf(users []string) (byShard [][]*pool.Member, online, offline []string) {
	byShard = make([][]*pool.Member, s.pool.Shards())
	online, offline = []string{}, []string{}
	var buf []*pool.Member
	for _, u := range users {
		buf = s.pool.User(u, buf[:0])
		if len(buf) == 0 {
			offline = append(offline, u)
			continue
		}
		online = append(online, u)
		for _, m := range buf {
			byShard[m.Shard()] = append(byShard[m.Shard()], m)
		}
	}
	return byShard, online, offline
}

// onMembers runs f on the loop of each connection of users and sums what
// f returns.
func (s *Server) onMembers(ctx context.Context, users []string, f func(*pool.Member) int) (int, error) {
	byShard, _, _ := s.membersOf(users)
	return s.fan(ctx, func(i int) bool { return len(byShard[i]) > 0 }, func(l *loop) job {
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

// AddToRoom puts every connection of users in room, whatever their tokens
// allow, and reports how many connections joined (in a cluster: on this
// node; the other nodes do the same when Redis tells them).
//
// The membership sticks to the user: connections the user opens later join
// room too, until RemoveFromRoom. Mini-programs reconnect all the time;
// without this a room the backend chose would be lost at the first one.
func (s *Server) AddToRoom(ctx context.Context, room string, users []string) (int, error) {
	if s.cl != nil {
		// The users' connections on other nodes too.
		s.cl.control(ctx, control{Op: ctlJoin, Room: room, Users: users})
	}
	return s.addToRoom(room, users, ctx)
}

// addToRoom is AddToRoom on this node's connections.
func (s *Server) addToRoom(room string, users []string, ctx context.Context) (int, error) {
	for _, u := range users {
		if _, err := s.pool.Keep(u, room); err != nil {
			return 0, fmt.Errorf("keep %s in room %s: %w", u, room, err)
		}
	}
	return s.onMembers(ctx, users, func(m *pool.Member) int {
		if ok, _ := s.pool.Join(m, room); ok {
			s.joined(room)
			return 1
		}
		return 0
	})
}

// RemoveFromRoom takes every connection of users out of room, and their
// later connections too, and reports how many connections left it.
func (s *Server) RemoveFromRoom(ctx context.Context, room string, users []string) (int, error) {
	if s.cl != nil {
		s.cl.control(ctx, control{Op: ctlLeave, Room: room, Users: users})
	}
	return s.removeFromRoom(room, users, ctx)
}

// removeFromRoom is RemoveFromRoom on this node's connections.
func (s *Server) removeFromRoom(room string, users []string, ctx context.Context) (int, error) {
	for _, u := range users {
		s.pool.Unkeep(u, room)
	}
	return s.onMembers(ctx, users, func(m *pool.Member) int {
		if s.pool.Leave(m, room) {
			return 1
		}
		return 0
	})
}

// Kick disconnects every connection of user with DisconnectKicked and
// reports how many.
func (s *Server) Kick(ctx context.Context, user string) (int, error) {
	if s.cl != nil {
		s.cl.control(ctx, control{Op: ctlKick, Users: []string{user}})
	}
	return s.kick(user, ctx)
}

// kick is Kick on this node's connections.
func (s *Server) kick(user string, ctx context.Context) (int, error) {
	return s.onMembers(ctx, []string{user}, func(m *pool.Member) int {
		m.Conn.(*conn).disconnect(DisconnectKicked, "")
		return 1
	})
}

// UserConns is the number of connections user has open on this node.
func (s *Server) UserConns(user string) int { return s.pool.UserConns(user) }

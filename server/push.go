package server

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/wspush/wspush/server/internal/api"
	"github.com/wspush/wspush/server/internal/engine"
	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/wire"
)

// Sending: the calls of the HTTP API, for embedders too. On a single node a
// message is encoded once (wire.PushFrame), kept in the history if there
// is one (before any loop can write it: resume.go in the engine relies on
// it), and handed to the engine's loops; in a cluster it goes through
// Redis, which gives it its position and sends it to every node with
// receivers, this one included.

// PushResult is what a push to users did.
type PushResult = wire.PushResult

// ErrBusy is returned when a queue on the way is full (an event loop's,
// Config.MaxQueue): the message may have reached some connections. The
// HTTP API answers 503 with Retry-After.
var ErrBusy = api.ErrBusy

// busy turns the engine's full-queue error into ErrBusy.
func busy(err error) error {
	if errors.Is(err, engine.ErrBusy) {
		return ErrBusy
	}
	return err
}

// Push sends data to every connection of each of users.
func (s *Server) Push(ctx context.Context, users []string, data json.RawMessage) (PushResult, error) {
	if s.cl != nil {
		res, err := s.cl.Push(ctx, users, data, "")
		return PushResult(res), busy(err)
	}
	return s.pushLocal(ctx, users, data, "")
}

// pushLocal is Push on a single node; from, when set, is the sending user.
func (s *Server) pushLocal(ctx context.Context, users []string, data []byte, from string) (PushResult, error) {
	f, p := s.encode(data, "", from, users)
	d, err := s.eng.DeliverUsers(ctx, users, f, p)
	return PushResult{Delivered: d.Delivered, Online: d.Online, Offline: d.Offline}, busy(err)
}

// Publish sends data to every member of room and reports to how many.
func (s *Server) Publish(ctx context.Context, room string, data json.RawMessage) (int, error) {
	if s.cl != nil {
		n, err := s.cl.Publish(ctx, room, data, "")
		return n, busy(err)
	}
	f, p := s.encode(data, room, "", nil)
	n, err := s.eng.DeliverRoom(ctx, room, f, p)
	return n, busy(err)
}

// Broadcast sends data to every connection and reports to how many.
func (s *Server) Broadcast(ctx context.Context, data json.RawMessage) (int, error) {
	if s.cl != nil {
		n, err := s.cl.Broadcast(ctx, data)
		return n, busy(err)
	}
	f := wire.PushFrame(s.eng.NextID(), data, "", "", 0, time.Now().UnixMilli())
	n, err := s.eng.DeliverAll(ctx, f)
	return n, busy(err)
}

// encode builds the frame of a message to room (or, room empty, to users)
// and keeps it in the history, if any, with its position. Users are kept
// online or not: the offline ones are those most likely to come back for
// it. Broadcasts are never kept.
func (s *Server) encode(data []byte, room, from string, users []string) ([]byte, history.Pos) {
	if s.hist == nil {
		return wire.PushFrame(s.eng.NextID(), data, room, from, 0, time.Now().UnixMilli()), 0
	}
	now := time.Now()
	p := s.clock.Next(now)
	f := wire.PushFrame(s.eng.NextID(), data, room, from, p, now.UnixMilli())
	if room != "" {
		s.hist.Add(history.RoomStream(room), p, f, now)
	} else {
		for _, u := range users {
			s.hist.Add(history.UserStream(u), p, f, now)
		}
	}
	return f, p
}

// AddToRoom puts every connection of users in room, whatever their tokens
// allow, and reports how many connections joined (in a cluster: on this
// node; the other nodes do the same when Redis tells them). The
// membership sticks to the user: connections it opens later join room
// too, until RemoveFromRoom.
func (s *Server) AddToRoom(ctx context.Context, room string, users []string) (int, error) {
	if s.cl != nil {
		s.cl.Control(ctx, engine.OpJoin, room, users)
	}
	n, err := s.eng.AddToRoom(ctx, room, users)
	return n, busy(err)
}

// RemoveFromRoom takes every connection of users out of room, and their
// later connections too, and reports how many connections left it.
func (s *Server) RemoveFromRoom(ctx context.Context, room string, users []string) (int, error) {
	if s.cl != nil {
		s.cl.Control(ctx, engine.OpLeave, room, users)
	}
	n, err := s.eng.RemoveFromRoom(ctx, room, users)
	return n, busy(err)
}

// Kick disconnects every connection of user with the kicked disconnect and
// reports how many (on this node).
func (s *Server) Kick(ctx context.Context, user string) (int, error) {
	if s.cl != nil {
		s.cl.Control(ctx, engine.OpKick, "", []string{user})
	}
	n, err := s.eng.Kick(ctx, user)
	return n, busy(err)
}

// UserConns is the number of connections user has open on this node.
func (s *Server) UserConns(user string) int { return s.eng.UserConns(user) }

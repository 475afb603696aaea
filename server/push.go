package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wspush/wspush/server/internal/api"
	"github.com/wspush/wspush/server/internal/cluster"
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

// ErrUnavailable is returned in a cluster when Redis is down or did not
// answer in time: the message was not delivered, or may have been stored
// (a timeout). A retry with the same id is published at most once. The
// HTTP API answers 503 with Retry-After.
var ErrUnavailable = api.ErrUnavailable

// refused turns the parts' errors into ErrBusy and ErrUnavailable.
func refused(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, engine.ErrBusy), errors.Is(err, cluster.ErrBusy):
		return fmt.Errorf("%w: %v", ErrBusy, err)
	case errors.Is(err, cluster.ErrUnavailable):
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}

// Push sends data to every connection of each of users.
func (s *Server) Push(ctx context.Context, users []string, data json.RawMessage) (PushResult, error) {
	return s.PushID(ctx, "", users, data)
}

// PushID is Push with the message's id (the "id" of the envelope; in a
// cluster a retry with the same id within 10 minutes is published at most
// once). An empty id is "mN", one of this node's.
func (s *Server) PushID(ctx context.Context, id string, users []string, data json.RawMessage) (PushResult, error) {
	if s.cl != nil {
		res, err := s.cl.Push(ctx, id, users, data, "")
		return PushResult(res), refused(err)
	}
	f, p := s.encode(id, data, "", "", nil, true) // the users' streams keep it below
	var keep func(online, offline []string)
	if s.hist != nil {
		keep = func(online, offline []string) {
			now := time.Now()
			for _, u := range online {
				s.hist.Add(history.UserStream(u), p, f, now)
			}
			for _, u := range offline {
				if s.recent.Within(u, now) {
					s.hist.Add(history.UserStream(u), p, f, now)
				}
			}
		}
	}
	d, err := s.eng.DeliverUsers(ctx, users, f, p, keep)
	return PushResult{Delivered: d.Delivered, Online: d.Online, Offline: d.Offline}, refused(err)
}

// Publish sends data to every member of room and reports to how many.
func (s *Server) Publish(ctx context.Context, room string, data json.RawMessage) (int, error) {
	return s.PublishID(ctx, "", room, data)
}

// PublishID is Publish with the message's id, as PushID.
func (s *Server) PublishID(ctx context.Context, id, room string, data json.RawMessage) (int, error) {
	if s.cl != nil {
		res, err := s.cl.Publish(ctx, id, room, data, "")
		return res.Delivered, refused(err)
	}
	f, p := s.encode(id, data, room, "", nil, true)
	n, err := s.eng.DeliverRoom(ctx, room, f, p)
	return n, refused(err)
}

// Broadcast sends data to every connection and reports to how many.
func (s *Server) Broadcast(ctx context.Context, data json.RawMessage) (int, error) {
	return s.BroadcastID(ctx, "", data)
}

// BroadcastID is Broadcast with the message's id, as PushID.
func (s *Server) BroadcastID(ctx context.Context, id string, data json.RawMessage) (int, error) {
	if s.cl != nil {
		res, err := s.cl.Broadcast(ctx, id, data)
		return res.Delivered, refused(err)
	}
	f := wire.PushFrame(s.eng.NextID(), id, data, "", "", 0, time.Now().UnixMilli())
	n, err := s.eng.DeliverAll(ctx, f)
	return n, refused(err)
}

// encode builds the frame of a message to room (or, room empty, to users)
// and keeps it in the history, if any, with its position. History is kept
// only for streams that can use it: a user connected or gone for less
// than the TTL (the offline ones are those most likely to come back for
// it; a user never seen is not), a room with members here or one the
// backend publishes to (byBackend). Broadcasts are never kept. PushID
// passes no users and keeps the message in their streams itself, from
// the engine's one look-up of who is connected.
func (s *Server) encode(id string, data []byte, room, from string, users []string, byBackend bool) ([]byte, history.Pos) {
	var n uint64
	if id == "" {
		n = s.eng.NextID()
	}
	if s.hist == nil {
		return wire.PushFrame(n, id, data, room, from, 0, time.Now().UnixMilli()), 0
	}
	now := time.Now()
	p := s.clock.Next(now)
	f := wire.PushFrame(n, id, data, room, from, p, now.UnixMilli())
	if room != "" {
		if byBackend || s.eng.HasRoom(room) {
			s.hist.Add(history.RoomStream(room), p, f, now)
		}
	} else {
		for _, u := range users {
			if s.eng.UserConns(u) > 0 || s.recent.Within(u, now) {
				s.hist.Add(history.UserStream(u), p, f, now)
			}
		}
	}
	return f, p
}

// AddToRoom puts every connection of users in room, whatever their tokens
// allow, and reports how many connections joined (in a cluster: on this
// node; the other nodes do the same when Redis tells them). The
// membership sticks to the user: connections it opens later join room
// too, until RemoveFromRoom.
//
// In a cluster whose Redis is down the change applies to this node only,
// and the answer is ErrUnavailable: retry it (it is idempotent).
func (s *Server) AddToRoom(ctx context.Context, room string, users []string) (int, error) {
	return s.control(ctx, engine.OpJoin, room, users, func() (int, error) { return s.eng.AddToRoom(ctx, room, users) })
}

// control applies op on this node with local, and sends it to the other
// nodes.
func (s *Server) control(ctx context.Context, op, room string, users []string, local func() (int, error)) (int, error) {
	var cerr error
	if s.cl != nil {
		cerr = s.cl.Control(ctx, op, room, users)
	}
	n, err := local()
	if err == nil {
		err = cerr
	}
	return n, refused(err)
}

// RemoveFromRoom takes every connection of users out of room, and their
// later connections too, and reports how many connections left it.
func (s *Server) RemoveFromRoom(ctx context.Context, room string, users []string) (int, error) {
	return s.control(ctx, engine.OpLeave, room, users, func() (int, error) { return s.eng.RemoveFromRoom(ctx, room, users) })
}

// Kick disconnects every connection of user with the kicked disconnect and
// reports how many (on this node).
func (s *Server) Kick(ctx context.Context, user string) (int, error) {
	return s.control(ctx, engine.OpKick, "", []string{user}, func() (int, error) { return s.eng.Kick(ctx, user) })
}

// UserConns is the number of connections user has open on this node.
func (s *Server) UserConns(user string) int { return s.eng.UserConns(user) }

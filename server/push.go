package server

import (
	"context"
	"encoding/json"

	"github.com/wspush/wspush/server/internal/engine"
	"github.com/wspush/wspush/server/internal/wire"
)

// Sending: the calls of the HTTP API, for embedders too. Each is one call
// to the broker (broker.go): on a single node the message is encoded once,
// kept in the history if there is one, and handed to the engine's loops;
// in a cluster it goes through Redis, which gives it its position and
// sends it to every node with receivers, this one included.

// PushResult is what a push to users did.
type PushResult = wire.PushResult

// ErrBusy is returned, wrapped, when a queue on the way is full (an event
// loop's, Config.MaxQueue; the cluster's client publishes): the message
// may have reached some connections. Test with errors.Is. The HTTP API
// answers 503 with Retry-After.
var ErrBusy = wire.ErrBusy

// ErrUnavailable is returned, wrapped, in a cluster when Redis is down or
// did not answer in time: the message was not delivered, or may have been
// stored (a timeout). A retry with the same id is published at most once.
// The HTTP API answers 503 with Retry-After.
var ErrUnavailable = wire.ErrUnavailable

// Push sends data to every connection of each of users.
func (s *Server) Push(ctx context.Context, users []string, data json.RawMessage) (PushResult, error) {
	return s.PushID(ctx, "", users, data)
}

// PushID is Push with the message's id (the "id" of the envelope; in a
// cluster a retry with the same id within 10 minutes is published at most
// once). An empty id is "mN", one of this node's.
func (s *Server) PushID(ctx context.Context, id string, users []string, data json.RawMessage) (PushResult, error) {
	res, err := s.b.Push(ctx, id, users, data, "")
	s.tailSent("push", id, "", users, data, res.Delivered, err)
	return res, err
}

// Publish sends data to every member of room and reports to how many.
func (s *Server) Publish(ctx context.Context, room string, data json.RawMessage) (int, error) {
	return s.PublishID(ctx, "", room, data)
}

// PublishID is Publish with the message's id, as PushID.
func (s *Server) PublishID(ctx context.Context, id, room string, data json.RawMessage) (int, error) {
	res, err := s.b.Publish(ctx, id, room, data, "")
	s.tailSent("publish", id, room, nil, data, res.Delivered, err)
	return res.Delivered, err
}

// Broadcast sends data to every connection and reports to how many.
func (s *Server) Broadcast(ctx context.Context, data json.RawMessage) (int, error) {
	return s.BroadcastID(ctx, "", data)
}

// BroadcastID is Broadcast with the message's id, as PushID.
func (s *Server) BroadcastID(ctx context.Context, id string, data json.RawMessage) (int, error) {
	res, err := s.b.Broadcast(ctx, id, data)
	s.tailSent("broadcast", id, "", nil, data, res.Delivered, err)
	return res.Delivered, err
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

// control sends op to the other nodes and applies it on this one with
// here, whatever the others said.
func (s *Server) control(ctx context.Context, op, room string, users []string, here func() (int, error)) (int, error) {
	cerr := s.b.Control(ctx, op, room, users)
	n, err := here()
	if err == nil {
		err = cerr
	}
	return n, err
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

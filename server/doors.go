package server

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"

	"github.com/wspush/wspush/server/internal/cluster"
	"github.com/wspush/wspush/server/internal/engine"
	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/webhook"
	"github.com/wspush/wspush/server/internal/wire"
)

// The doors between the rooms: each adapter below is the whole of what one
// part may ask of the others (docs/design.md).

// hooks is what the engine tells the rest of the server. It runs on the
// event loops: every method only queues.
type hooks struct{ s *Server }

func (h hooks) Connected(c engine.Conn, remote net.Addr, ip string) {
	h.s.grace.Back(c.User)
	if h.s.recent != nil {
		h.s.recent.Back(c.User)
	}
	h.s.hook.Connect(c.ID, c.User, remote, ip)
	if h.s.cl != nil {
		h.s.cl.Note(c.User)
	}
}

func (h hooks) Joined(room string) {
	if h.s.cl != nil {
		h.s.cl.NoteRoom(room)
	}
}

// Leaving marks user as recently gone before its connection leaves the
// pool, whether or not it is the last: a push in between must still be
// kept for the user's resume (encode keeps it for a user connected or
// recent). A user marked so while still connected costs one entry until
// it connects again or the TTL passes.
func (h hooks) Leaving(user string) {
	if h.s.recent != nil {
		h.s.recent.Left(user, h.s.now())
	}
}

func (h hooks) Left(user string, last bool) {
	if last {
		h.s.grace.Left(user) // recent: marked by Leaving already
	}
	if h.s.cl != nil {
		h.s.cl.Note(user)
	}
}

func (h hooks) Disconnected(c engine.Conn, reason string, _ bool) {
	h.s.hook.Disconnect(c.ID, c.User, reason)
}

func (h hooks) Publish(c engine.Conn, room string, data []byte) error {
	s := h.s
	if s.cl != nil {
		if err := s.cl.QueuePublish(room, data, c.User); err != nil {
			return coded(err)
		}
	} else {
		f, p := s.encode("", data, room, c.User, nil, false)
		if err := s.eng.PostRoom(room, f, p); err != nil {
			return err
		}
	}
	s.hook.Message(webhook.EventPublish, c.ID, c.User, room, data)
	return nil
}

func (h hooks) Send(c engine.Conn, to string, data []byte, webhookOnly bool) error {
	s := h.s
	if webhookOnly {
		s.hook.Message(webhook.EventSend, c.ID, c.User, to, data)
		return nil
	}
	if s.cl != nil {
		if err := s.cl.QueuePush(to, data, c.User); err != nil {
			return coded(err)
		}
	} else {
		users := []string{to}
		f, p := s.encode("", data, "", c.User, users, false)
		if err := s.eng.PostUsers(users, f, p); err != nil {
			return err
		}
	}
	s.hook.Message(webhook.EventSend, c.ID, c.User, to, data)
	return nil
}

func (h hooks) Binary(c engine.Conn, data []byte) { h.s.hook.Binary(c.ID, c.User, data) }

// codedError carries the code of the error reply a client gets.
type codedError struct {
	code string
	err  error
}

func (e codedError) Error() string { return e.err.Error() }
func (e codedError) Code() string  { return e.code }
func (e codedError) Unwrap() error { return e.err }

// coded names the cluster's refusals for the client: "unavailable" while
// Redis is down, "busy" when too many messages wait for it.
func coded(err error) error {
	if errors.Is(err, cluster.ErrUnavailable) {
		return codedError{"unavailable", err}
	}
	return codedError{"busy", err}
}

// clusterDoor is what the cluster may ask of this node's connections.
type clusterDoor struct{ s *Server }

func (d clusterDoor) DeliverUsers(ctx context.Context, users []string, f []byte, p history.Pos) (int, []string, []string, error) {
	r, err := d.s.eng.DeliverUsers(ctx, users, f, p, nil)
	return r.Delivered, r.Online, r.Offline, err
}

func (d clusterDoor) DeliverRoom(ctx context.Context, room string, f []byte, p history.Pos) (int, error) {
	return d.s.eng.DeliverRoom(ctx, room, f, p)
}

func (d clusterDoor) DeliverAll(ctx context.Context, f []byte) (int, error) {
	return d.s.eng.DeliverAll(ctx, f)
}

func (d clusterDoor) PostUsers(users []string, f []byte, p history.Pos) error {
	return d.s.eng.PostUsers(users, f, p)
}

func (d clusterDoor) PostRoom(room string, f []byte, p history.Pos) error {
	return d.s.eng.PostRoom(room, f, p)
}

func (d clusterDoor) PostAll(f []byte) error { return d.s.eng.PostAll(f) }

func (d clusterDoor) PostControl(op, room string, users []string) error {
	return d.s.eng.PostControl(op, room, users)
}

func (d clusterDoor) PostGap(users []string, room string, from history.Pos) error {
	return d.s.eng.PostGap(users, room, from)
}

func (d clusterDoor) UserConns(user string) int { return d.s.eng.UserConns(user) }
func (d clusterDoor) HasRoom(room string) bool  { return d.s.eng.HasRoom(room) }
func (d clusterDoor) LocalUsers(ctx context.Context) []string {
	return d.s.eng.LocalUsers(ctx)
}
func (d clusterDoor) NextID() uint64 { return d.s.eng.NextID() }
func (d clusterDoor) Counts() (int64, int) {
	k := d.s.eng.Counters()
	return k.Conns, k.Users
}

var _ cluster.Engine = clusterDoor{}

// backend is what the HTTP API may ask of the server.
type backend struct{ s *Server }

func (b backend) Push(ctx context.Context, id string, users []string, data json.RawMessage) (wire.PushResult, error) {
	return b.s.PushID(ctx, id, users, data)
}

func (b backend) Broadcast(ctx context.Context, id string, data json.RawMessage) (int, error) {
	return b.s.BroadcastID(ctx, id, data)
}

func (b backend) Publish(ctx context.Context, id, room string, data json.RawMessage) (int, error) {
	return b.s.PublishID(ctx, id, room, data)
}

func (b backend) AddToRoom(ctx context.Context, room string, users []string) (int, error) {
	return b.s.AddToRoom(ctx, room, users)
}

func (b backend) RemoveFromRoom(ctx context.Context, room string, users []string) (int, error) {
	return b.s.RemoveFromRoom(ctx, room, users)
}

func (b backend) Kick(ctx context.Context, user string) (int, error) { return b.s.Kick(ctx, user) }

func (b backend) Presence(ctx context.Context, user string) wire.Presence {
	return b.s.Presence(ctx, user)
}

func (b backend) Stats() any { return b.s.Stats() }

func (b backend) Health() (int, any) {
	s := b.s
	if s.eng.Draining() {
		return http.StatusServiceUnavailable, wire.Error{Error: "draining", Message: "the server is shutting down"}
	}
	if s.cl != nil && !s.cl.Up() {
		// Still serving this node's clients: the balancer keeps it.
		return http.StatusOK, s.healthAuth(map[string]string{"status": "degraded", "redis": "down",
			"message": "redis does not answer: the cluster takes no message (503) until it does"})
	}
	return http.StatusOK, s.healthAuth(map[string]string{"status": "ok"})
}

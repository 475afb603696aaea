package server

import (
	"context"
	"encoding/json"
	"net"
	"net/http"

	"github.com/wspush/wspush/server/internal/console"
	"github.com/wspush/wspush/server/internal/engine"
	"github.com/wspush/wspush/server/internal/webhook"
	"github.com/wspush/wspush/server/internal/wire"
)

// The doors between the rooms: each adapter below is the whole of what one
// part may ask of the others (docs/design.md). They route and decide
// nothing.

// hooks is what the engine tells the rest of the server: the broker, the
// offline grace and the webhook. It runs on the event loops: every method
// only queues.
type hooks struct{ s *Server }

func (h hooks) Connected(c engine.Conn, remote net.Addr, ip string) {
	h.s.grace.Back(c.User)
	h.s.b.Arrived(c.User)
	h.s.hook.Connect(c.ID, c.User, remote, ip)
	if h.s.watching() {
		h.s.tailConn(c, "")
	}
}

func (h hooks) Joined(room string) { h.s.b.Joined(room) }

func (h hooks) Member(room, user string) { h.s.b.Member(room, user) }

func (h hooks) Leaving(user string) { h.s.b.Leaving(user) }

func (h hooks) Left(user string, last bool) {
	if last {
		h.s.grace.Left(user)
	}
	h.s.b.Left(user)
}

func (h hooks) Disconnected(c engine.Conn, reason string, _ bool) {
	h.s.hook.Disconnect(c.ID, c.User, reason)
	if h.s.watching() {
		h.s.tailConn(c, reason)
	}
}

func (h hooks) Publish(c engine.Conn, room string, data []byte) error {
	if err := h.s.b.QueuePublish(room, data, c.User); err != nil {
		return err
	}
	h.s.hook.Message(webhook.EventPublish, c.ID, c.User, room, data)
	if h.s.watching() {
		h.s.con.Tail().Emit(console.Event{Type: "publish", Node: h.s.con.Node(), User: c.User, Conn: c.ID, Room: room, Bytes: len(data)})
	}
	return nil
}

func (h hooks) Send(c engine.Conn, to string, data []byte, webhookOnly bool) error {
	if !webhookOnly {
		if err := h.s.b.QueuePush(to, data, c.User); err != nil {
			return err
		}
	}
	h.s.hook.Message(webhook.EventSend, c.ID, c.User, to, data)
	return nil
}

func (h hooks) Binary(c engine.Conn, data []byte) { h.s.hook.Binary(c.ID, c.User, data) }

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
	m := map[string]string{"status": "ok"}
	if !s.b.Up() {
		// Still serving this node's clients: the balancer keeps it.
		m = map[string]string{"status": "degraded", "redis": "down",
			"message": "redis does not answer: the cluster takes no message (503) until it does"}
	}
	if s.cfg.AuthMode() == AuthDevelopment {
		// A deploy check sees development mode.
		m["auth"] = AuthDevelopment
	}
	return http.StatusOK, m
}

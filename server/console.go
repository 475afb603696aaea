package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/wspush/wspush/frame"
	"github.com/wspush/wspush/server/internal/cluster"
	"github.com/wspush/wspush/server/internal/console"
	"github.com/wspush/wspush/server/internal/engine"
	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/wire"
)

// ConsoleConfig configures the operator console at /console/ on the API
// listener (docs/console.md).
type ConsoleConfig struct {
	// Off serves no console.
	Off bool
	// Key logs in as an admin besides Config.APIKey; ReadonlyKey as a
	// viewer, who cannot push, publish, broadcast, kick or disconnect and
	// sees no payload. Empty means none.
	Key, ReadonlyKey string
	// UsersFile names operators: "NAME ROLE BCRYPT-HASH" a line, so that
	// the audit log names them. Empty means none.
	UsersFile string
	// Settings is the effective configuration, secrets redacted, that the
	// console's configuration page shows (main passes what --check-config
	// prints).
	Settings string
	// Version is the binary's, shown in the console.
	Version string
}

// newConsole builds the console for s, or nil when it is off. A users file that cannot be read leaves it refusing every login
// until Validate stops the server.
func (s *Server) newConsole() *console.Console {
	cc := s.cfg.Console
	if cc.Off {
		return nil
	}
	var users []console.User
	if cc.UsersFile != "" {
		us, err := console.ReadUsers(cc.UsersFile)
		if err != nil {
			s.log.Error("console: cannot read --console-users; no one can log in", "err", err)
			us = []console.User{{Name: "\x00", Role: console.RoleViewer}}
		}
		users = us
	}
	node := s.cfg.Node
	if cl, ok := s.b.(*cluster.Cluster); ok {
		node = cl.Node()
	}
	if node == "" {
		node, _ = os.Hostname()
	}
	return console.New(console.Config{APIKey: s.cfg.APIKey, Key: cc.Key, ReadonlyKey: cc.ReadonlyKey, Users: users,
		Node: node, Version: cc.Version, Settings: cc.Settings, Logger: s.log}, consoleBackend{s})
}

// watching reports whether a live tail is open: one atomic load, the
// only cost of the tail to the hot paths when nobody watches.
func (s *Server) watching() bool { return s.con != nil && s.con.Tail().On() }

// tailSent tells the live tail of a push, publish or broadcast.
func (s *Server) tailSent(kind, id, room string, users []string, data json.RawMessage, delivered int, err error) {
	if !s.watching() {
		return
	}
	e := console.Event{Type: kind, Node: s.con.Node(), Room: room, ID: id, Bytes: len(data), Receivers: delivered, Users: len(users)}
	if len(users) == 1 {
		e.User = users[0]
	}
	if err != nil {
		e.Type, e.Detail = "error", kind+": "+err.Error()
	}
	s.con.Tail().Emit(e)
}

// tailConn tells the live tail of a connect or a disconnect. It runs on
// an event loop and only queues.
func (s *Server) tailConn(c engine.Conn, reason string) {
	e := console.Event{Type: "connect", Node: s.con.Node(), User: c.User, Conn: c.ID}
	if reason != "" {
		e.Type, e.Reason = "disconnect", reason
		if reason == "slow_consumer" {
			e.Type = "slow_consumer"
		}
		for _, d := range wire.Disconnects {
			if wire.ReasonFor(d).String() == reason {
				e.Code = d.Code
			}
		}
	}
	s.con.Tail().Emit(e)
}

// consoleBackend is what the console may ask of the server.
type consoleBackend struct{ s *Server }

func (b consoleBackend) Stats() wire.Stats                   { return b.s.Stats() }
func (b consoleBackend) ConnsOf(user string) []wire.ConnInfo { return b.s.eng.ConnsOf(user) }
func (b consoleBackend) Closed(user string, limit int) []wire.ClosedConn {
	return b.s.eng.Closed(user, limit)
}

// Page is a page of the cluster's connections (cluster.Page asks the
// other nodes, within cluster.InspectWait), or this node's on one.
func (b consoleBackend) Page(ctx context.Context, q wire.ConnQuery) (wire.ConnPage, error) {
	if cl, ok := b.s.b.(*cluster.Cluster); ok {
		return cl.Page(ctx, q, b.s.eng)
	}
	if q.Node != "" && q.Node != b.s.con.Node() {
		return wire.ConnPage{Conns: []wire.ConnInfo{}, Taken: time.Now(), Missing: []string{q.Node}}, nil
	}
	p, err := b.s.eng.Page(q)
	if errors.Is(err, engine.ErrCursor) {
		err = wire.ErrCursor
	}
	return p, err
}

// ConnDetail reads connection id of node: this node's from its loop,
// another's by asking it through the cluster.
func (b consoleBackend) ConnDetail(ctx context.Context, node string, id uint64) (wire.ConnDetail, error) {
	if node == "" {
		return b.s.eng.ConnDetail(ctx, id)
	}
	cl, ok := b.s.b.(*cluster.Cluster)
	if !ok {
		return wire.ConnDetail{}, fmt.Errorf("%w: node %q is not this node, and there is no cluster", wire.ErrNoConn, node)
	}
	return cl.ConnDetail(ctx, node, id)
}

// Disconnect closes connection id of node with reason, as ConnDetail.
func (b consoleBackend) Disconnect(ctx context.Context, node string, id uint64, reason string) error {
	if node == "" {
		return b.s.eng.Disconnect(ctx, id, reason)
	}
	cl, ok := b.s.b.(*cluster.Cluster)
	if !ok {
		return fmt.Errorf("%w: node %q is not this node, and there is no cluster", wire.ErrNoConn, node)
	}
	return cl.Disconnect(ctx, node, id, reason)
}

func (b consoleBackend) TopQueued(ctx context.Context, k int) []wire.Queued {
	return b.s.eng.TopQueued(ctx, k)
}

func (b consoleBackend) RoomMembers(ctx context.Context, room string, limit int) ([]wire.ConnInfo, int) {
	return b.s.eng.RoomMembers(ctx, room, limit)
}

func (b consoleBackend) Presence(ctx context.Context, user string) wire.Presence {
	return b.s.Presence(ctx, user)
}

func (b consoleBackend) Push(ctx context.Context, id string, users []string, data json.RawMessage) (wire.PushResult, error) {
	return b.s.PushID(ctx, id, users, data)
}

func (b consoleBackend) Publish(ctx context.Context, id, room string, data json.RawMessage) (int, error) {
	return b.s.PublishID(ctx, id, room, data)
}

func (b consoleBackend) Broadcast(ctx context.Context, id string, data json.RawMessage) (int, error) {
	return b.s.BroadcastID(ctx, id, data)
}

// Kick kicks user's connections on every node with reason, which goes to
// the other nodes in the kick's control message (its room field).
func (b consoleBackend) Kick(ctx context.Context, user, reason string) (int, error) {
	return b.s.control(ctx, engine.OpKick, reason, []string{user}, func() (int, error) { return b.s.eng.KickWith(ctx, user, reason) })
}

// History is what the history keeps of user's own stream, at most limit
// messages, newest last: each the push envelope the client got
// ({"type":"push","id":..,"pos":..,"data":..}). on is false when the
// server keeps no history.
func (b consoleBackend) History(ctx context.Context, user string, limit int) ([]json.RawMessage, bool, error) {
	st := b.s.b.Store()
	if st == nil || b.s.cfg.HistorySize <= 0 || b.s.cfg.HistoryTTL <= 0 {
		return nil, false, nil
	}
	ch := make(chan []history.Result, 1)
	st.Read(user, []history.Want{{}}, func(rs []history.Result) { ch <- rs })
	var rs []history.Result
	select {
	case rs = <-ch:
	case <-ctx.Done():
		return nil, true, ctx.Err()
	}
	out := []json.RawMessage{}
	for _, r := range rs {
		for _, e := range r.Entries {
			h, n, err := frame.ParseHeader(e.Frame)
			if err != nil || n == 0 || int64(len(e.Frame)-n) < h.Length {
				continue
			}
			out = append(out, json.RawMessage(e.Frame[n:n+int(h.Length)]))
		}
	}
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, true, nil
}

// RoomList pages through the cluster's rooms (this node's on one).
func (b consoleBackend) RoomList(ctx context.Context, after string, limit int) (wire.RoomsPage, error) {
	return b.s.RoomList(ctx, after, limit)
}

// RoomUsers pages through a room's users, the cluster's.
func (b consoleBackend) RoomUsers(ctx context.Context, room, after string, limit int) (wire.RoomPage, error) {
	return b.s.RoomMembers(ctx, room, after, limit)
}

// UserNodes says on which nodes user has connections: the cluster's
// presence in Redis, or this node's count on one.
func (b consoleBackend) UserNodes(ctx context.Context, user string) (map[string]int, error) {
	if cl, ok := b.s.b.(*cluster.Cluster); ok {
		return cl.UserNodes(ctx, user)
	}
	out := map[string]int{}
	if n := b.s.eng.UserConns(user); n > 0 {
		out[b.s.con.Node()] = n
	}
	return out, nil
}

// LoopLag is the event loops' lag: how long a job waits for the slowest.
func (b consoleBackend) LoopLag(ctx context.Context) (time.Duration, error) {
	return b.s.eng.LoopLag(ctx)
}

// WebhookFailures are the webhook's last failed requests.
func (b consoleBackend) WebhookFailures() []wire.WebhookFailure { return b.s.hook.Failures() }

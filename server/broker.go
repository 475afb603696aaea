package server

import (
	"context"
	"encoding/json"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wspush/wspush/server/internal/cluster"
	"github.com/wspush/wspush/server/internal/engine"
	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/local"
	"github.com/wspush/wspush/server/internal/presence"
	"github.com/wspush/wspush/server/internal/wire"
)

// broker is how the server's verbs reach their receivers: a single node's
// (local.Broker: straight to this node's loops, with the in-memory
// history) or a cluster's (cluster.Cluster: through Redis, which orders
// and keeps every message and hands it to every node with receivers). New
// picks one; every verb is then one call to it.
type broker interface {
	// Push, Publish and Broadcast send a message of the backend (from
	// empty) and wait for the loops, or for Redis, within ctx.
	Push(ctx context.Context, id string, users []string, data json.RawMessage, from string) (wire.PushResult, error)
	Publish(ctx context.Context, id, room string, data json.RawMessage, from string) (wire.PushResult, error)
	Broadcast(ctx context.Context, id string, data json.RawMessage) (wire.PushResult, error)
	// PushBatch sends each of msgs as Push, in order, and answers for
	// each: on one node without waiting for one before the next is
	// handed to the loops, in a cluster in one Redis pipeline.
	PushBatch(ctx context.Context, msgs []wire.Push) []wire.Pushed
	// QueuePublish and QueuePush send a client's message: called on an
	// event loop, they only queue.
	QueuePublish(room string, data []byte, from string) error
	QueuePush(to string, data []byte, from string) error
	// Control tells the other nodes of a room change or a kick.
	Control(ctx context.Context, op, room string, users []string) error
	// Presence is what the broker knows of user; an error says it could
	// not ask (Redis down), and this node's own answer stands.
	Presence(ctx context.Context, user string) (wire.Presence, error)
	// Connected says which of users have a connection on another node.
	Connected(ctx context.Context, users []string) ([]bool, error)
	// Arrived, Leaving, Left and Joined follow this node's connections;
	// they run on a loop and never block.
	Arrived(user string)
	Leaving(user string)
	Left(user string)
	Joined(room string)
	// Member: user's first connection here joined room, or its last
	// left it (the engine's roster says which); it runs on a loop.
	Member(room, user string)
	// RoomMembers and RoomList page through the rooms of the whole
	// cluster (of this node alone on one), after the name after.
	RoomMembers(ctx context.Context, room, after string, limit int) (wire.RoomPage, error)
	RoomList(ctx context.Context, after string, limit int) (wire.RoomsPage, error)
	// ReadHistory reads what a resume of w by user would replay, for
	// the API: wire.ErrNoHistory without a history.
	ReadHistory(ctx context.Context, user string, w history.Want) (history.Result, error)
	// Store is where the engine's resumes read the history; nil for none.
	Store() history.Store
	Up() bool
	Report(st *wire.Stats)
	Collectors() []prometheus.Collector
	Start()
	Close()
}

var (
	_ broker = (*local.Broker)(nil)
	_ broker = (*cluster.Cluster)(nil)
)

// newBroker returns the broker cfg asks for, and the function that binds
// it to the engine once the engine exists (the engine needs the broker's
// history store first).
func newBroker(cfg Config, start time.Time, grace *presence.Grace, now func() time.Time, report func() wire.NodeStat) (broker, func(*engine.Engine)) {
	if cfg.Redis != "" {
		// Validate refuses a bad URL before Serve starts anything.
		cl, err := cluster.New(cluster.Config{
			Redis: cfg.Redis, Passwords: cfg.redisPasswords(), Replicas: cfg.RedisReplicas, Node: cfg.Node, HistorySize: cfg.HistorySize, HistoryTTL: cfg.HistoryTTL,
			OfflineGrace: cfg.OfflineGrace, Logger: cfg.Logger, Secret: cfg.ClusterSecret, Report: report,
		})
		if err == nil {
			return cl, func(e *engine.Engine) { cl.Bind(e); cl.SetInspector(e) }
		}
	}
	l := local.New(local.Config{HistorySize: cfg.HistorySize, HistoryTTL: cfg.HistoryTTL,
		HistoryMaxBytes: cfg.HistoryMaxBytes, Start: start, Grace: grace, Now: now})
	return l, l.Bind
}

package cluster

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wspush/wspush/server/internal/wire"
)

// errDown is the error of a question asked while Redis is down.
var errDown = errors.New("cluster: redis is down")

// Presence adds up user's connections on the nodes alive; the user is
// online while connected, or gone for less than the offline grace.
func (cl *Cluster) Presence(ctx context.Context, user string) (wire.Presence, error) {
	ps, err := cl.presences(ctx, []string{user})
	if err != nil {
		return wire.Presence{}, err
	}
	p := ps[0]
	p.User = user
	return p, nil
}

// Connected reports, for each of users, whether it has a connection on a
// node alive, asking Redis once for all of them. While Redis is down it
// answers false for everyone (and the error).
func (cl *Cluster) Connected(ctx context.Context, users []string) ([]bool, error) {
	ps, err := cl.presences(ctx, users)
	on := make([]bool, len(users))
	for i := range ps {
		on[i] = ps[i].Connections > 0
	}
	return on, err
}

// presences reads the presence of users in one round trip.
func (cl *Cluster) presences(ctx context.Context, users []string) ([]wire.Presence, error) {
	if !cl.up.Load() {
		return nil, errDown
	}
	ctx, cancel := context.WithTimeout(ctx, redisWait)
	defer cancel()
	now := time.Now()
	hs := make([]*redis.MapStringStringCmd, len(users))
	var alive *redis.StringSliceCmd
	_, err := cl.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, u := range users {
			hs[i] = p.HGetAll(ctx, cl.lay.presenceKey(u))
		}
		alive = p.ZRangeByScore(ctx, cl.lay.nodesKey(), &redis.ZRangeBy{
			Min: strconv.FormatInt(now.Add(-nodeTimeout).UnixMilli(), 10), Max: "+inf"})
		return nil
	})
	if err != nil {
		cl.failed(err)
		return nil, err
	}
	ps := make([]wire.Presence, len(users))
	for i, h := range hs {
		for _, node := range alive.Val() {
			n, _ := strconv.Atoi(h.Val()[node])
			ps[i].Connections += n
		}
		seen, _ := strconv.ParseInt(h.Val()[fieldSeen], 10, 64)
		ps[i].Online = ps[i].Connections > 0 || now.Sub(time.UnixMilli(seen)) < cl.cfg.OfflineGrace
	}
	return ps, nil
}

// Report adds the cluster's figures to st.
func (cl *Cluster) Report(st *wire.Stats) { st.Cluster = cl.Stats() }

// Stats returns the cluster's figures as of the last heartbeat.
func (cl *Cluster) Stats() *wire.ClusterStats {
	cs := wire.ClusterStats{Node: cl.node, Redis: "down", Nodes: 1}
	if p := cl.stats.Load(); p != nil && cl.up.Load() {
		cs = *p
	}
	if !cl.up.Load() {
		cs.Connections, cs.Users = cl.eng.Conns(), int64(cl.eng.Users())
	}
	cs.Published, cs.Received, cs.Unavailable = cl.published.Load(), cl.received.Load(), cl.unavailable.Load()
	return &cs
}

// Counters are the cluster's counters, for the metrics.
type Counters struct {
	Up                                                 bool
	Published, Received, Unavailable, Errs, Reconnects int64
	Dropped, Queued, Rejected                          int64
	CatchUps, Caught, Gaps                             int64 // streams read after a re-subscription, messages that delivered, holes found
	LostWrites                                         int64 // Redis instances found lacking writes after a failover or restart
	Unreplicated                                       int64 // API messages fewer than Config.Replicas replicas acknowledged in time (503 replicas)
	Followed                                           int64 // streams whose last delivered position the node keeps
	Reshards                                           int64 // Redis Cluster: partitions subscribed again on a new owner of their slot
}

// Counters reads the cluster's counters.
func (cl *Cluster) Counters() Counters {
	return Counters{
		Up: cl.up.Load(), Published: cl.published.Load(), Received: cl.received.Load(),
		Unavailable: cl.unavailable.Load(), Errs: cl.errs.Load(), Reconnects: cl.reconnects.Load(),
		Dropped: cl.dropped.Load(), Queued: cl.queued.Load(), Rejected: cl.rejected.Load(),
		CatchUps: cl.catchups.Load(), Caught: cl.caught.Load(), Gaps: cl.gaps.Load(),
		Followed: cl.followed.Load(), LostWrites: cl.lostWrites.Load(),
		Unreplicated: cl.unreplicated.Load(), Reshards: cl.reshards.Load(),
	}
}

// UserNodes says on which nodes alive user has connections, and how many
// on each, from the user's presence hash in Redis: one round trip.
func (cl *Cluster) UserNodes(ctx context.Context, user string) (map[string]int, error) {
	if !cl.up.Load() {
		return nil, errDown
	}
	ctx, cancel := context.WithTimeout(ctx, redisWait)
	defer cancel()
	var h *redis.MapStringStringCmd
	var alive *redis.StringSliceCmd
	_, err := cl.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		h = p.HGetAll(ctx, keyPresence+user)
		alive = p.ZRangeByScore(ctx, keyNodes, &redis.ZRangeBy{
			Min: strconv.FormatInt(time.Now().Add(-nodeTimeout).UnixMilli(), 10), Max: "+inf"})
		return nil
	})
	if err != nil {
		cl.failed(err)
		return nil, err
	}
	out := map[string]int{}
	for _, node := range alive.Val() {
		if n, _ := strconv.Atoi(h.Val()[node]); n > 0 {
			out[node] = n
		}
	}
	return out, nil
}

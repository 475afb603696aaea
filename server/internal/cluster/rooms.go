package cluster

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wspush/wspush/server/internal/roster"
	"github.com/wspush/wspush/server/internal/wire"
)

// Rooms in Redis: each node keeps there who is in which room on it, from
// its roster (package roster), so that any node can page through a room
// or the rooms of the whole cluster:
//
//	wspush:rn:NODE            sorted set: the node's rooms, by name
//	wspush:rm:LEN:NODE:ROOM   sorted set: the node's users in ROOM, by name
//
// All scores are 0, so a page is ZRANGEBYLEX from the cursor: a descent
// and the page, whatever the room's size. A page of the cluster merges the
// pages of the nodes alive (by their heartbeats), so a node that died
// drops out of every answer at once; its keys expire after presenceTTL,
// and a node that starts again under the same name rewrites its own
// (register). The worker writes changes as the loops note them (Member),
// a user when its first connection here joins or its last leaves; the
// queue of changes is capped at maxMemberQueue, past which the node
// rewrites all of its rooms instead (counted in wspush_cluster_room_resyncs_total).

const (
	keyNodeRooms   = "wspush:rn:" // + node
	keyRoomMembers = "wspush:rm:" // + len(node) ":" node ":" room
	// maxMemberQueue caps the (room, user) changes waiting for the
	// worker.
	maxMemberQueue = 1 << 18
	// zaddChunk is the most users one ZADD carries.
	zaddChunk = 1000
	// roomsTouch is how often a node renews the TTL of its room keys.
	roomsTouch = 10 * time.Minute
)

func memberKey(node, room string) string {
	return keyRoomMembers + strconv.Itoa(len(node)) + ":" + node + ":" + room
}

// Member records that user's membership of room on this node changed. It
// runs on a loop and never blocks.
func (cl *Cluster) Member(room, user string) {
	cl.mu.Lock()
	if cl.resync {
		cl.mu.Unlock()
		return
	}
	if len(cl.members) >= maxMemberQueue {
		clear(cl.members)
		cl.resync = true
	} else {
		cl.members[[2]string{room, user}] = struct{}{}
	}
	cl.mu.Unlock()
	cl.kick()
}

// writeMembers writes the queued membership changes to Redis, as the
// roster has them now; with resync, all of this node's rooms instead. On
// failure the caller queues them again.
func (cl *Cluster) writeMembers(ctx context.Context, pairs map[[2]string]struct{}, resync bool) error {
	r := cl.eng.Roster()
	if resync {
		return cl.resyncRooms(ctx, r)
	}
	if len(pairs) == 0 {
		return nil
	}
	rooms := map[string]bool{}
	_, err := cl.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for pr := range pairs {
			room, user := pr[0], pr[1]
			key := memberKey(cl.node, room)
			if r.Has(room, user) {
				p.ZAdd(ctx, key, redis.Z{Member: user})
				p.PExpire(ctx, key, presenceTTL)
			} else {
				p.ZRem(ctx, key, user)
			}
			rooms[room] = true
		}
		idx := keyNodeRooms + cl.node
		for room := range rooms {
			if r.Count(room) > 0 {
				p.ZAdd(ctx, idx, redis.Z{Member: room})
			} else {
				p.ZRem(ctx, idx, room)
				p.Del(ctx, memberKey(cl.node, room))
			}
		}
		p.PExpire(ctx, idx, presenceTTL)
		return nil
	})
	return err
}

// resyncRooms rewrites every room key of this node from the roster: at
// start, when Redis comes back (it may have restarted empty), and when the
// queue of changes overflowed.
func (cl *Cluster) resyncRooms(ctx context.Context, r *roster.Roster) error {
	// The rewrite is one pipeline, which may carry far more than one
	// call's worth: it gets a second more per 100,000 memberships.
	_, n := r.Stats()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisWait+time.Duration(n/100000)*time.Second)
	defer cancel()
	idx := keyNodeRooms + cl.node
	old, err := cl.rdb.ZRange(ctx, idx, 0, -1).Result()
	if err != nil {
		return err
	}
	p := cl.rdb.Pipeline()
	for _, room := range old {
		p.Del(ctx, memberKey(cl.node, room))
	}
	p.Del(ctx, idx)
	r.Each(func(room string, users []string) {
		key := memberKey(cl.node, room)
		for lo := 0; lo < len(users); lo += zaddChunk {
			zs := make([]redis.Z, 0, min(zaddChunk, len(users)-lo))
			for _, u := range users[lo:min(lo+zaddChunk, len(users))] {
				zs = append(zs, redis.Z{Member: u})
			}
			p.ZAdd(ctx, key, zs...)
		}
		p.PExpire(ctx, key, presenceTTL)
		p.ZAdd(ctx, idx, redis.Z{Member: room})
	})
	p.PExpire(ctx, idx, presenceTTL)
	_, err = p.Exec(ctx)
	if err == nil {
		cl.resyncs.Add(1)
	}
	return err
}

// touchRooms renews the TTL of this node's room keys.
func (cl *Cluster) touchRooms(ctx context.Context) error {
	rooms, _, _ := cl.eng.Roster().Rooms("", 1<<30)
	_, err := cl.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, rc := range rooms {
			p.PExpire(ctx, memberKey(cl.node, rc.Room), presenceTTL)
		}
		p.PExpire(ctx, keyNodeRooms+cl.node, presenceTTL)
		return nil
	})
	return err
}

// alive lists the nodes whose heartbeat is recent.
func (cl *Cluster) alive(ctx context.Context) ([]string, error) {
	return cl.rdb.ZRangeByScore(ctx, cl.lay.nodesKey(), &redis.ZRangeBy{
		Min: strconv.FormatInt(time.Now().Add(-nodeTimeout).UnixMilli(), 10), Max: "+inf"}).Result()
}

// page reads up to limit+1 names after after from key of each of nodes,
// and their sizes, in one round trip, and merges them: the first limit
// names of their union, whether more follow, and the sum of the sizes.
func (cl *Cluster) page(ctx context.Context, nodes []string, key func(node string) string, after string, limit int) ([]string, int, bool, error) {
	from := "-"
	if after != "" {
		from = "(" + after
	}
	rngs := make([]*redis.StringSliceCmd, len(nodes))
	cards := make([]*redis.IntCmd, len(nodes))
	_, err := cl.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, n := range nodes {
			rngs[i] = p.ZRangeByLex(ctx, key(n), &redis.ZRangeBy{Min: from, Max: "+", Count: int64(limit + 1)})
			cards[i] = p.ZCard(ctx, key(n))
		}
		return nil
	})
	if err != nil {
		return nil, 0, false, err
	}
	var all []string
	total := 0
	for i := range nodes {
		all = append(all, rngs[i].Val()...)
		total += int(cards[i].Val())
	}
	slices.Sort(all)
	all = slices.Compact(all)
	more := len(all) > limit
	return all[:min(len(all), limit)], total, more, nil
}

// RoomMembers pages through room's users on every node alive: up to limit
// of them after after, in name order. The count adds up the nodes': a user
// in the room on two nodes counts on each.
func (cl *Cluster) RoomMembers(ctx context.Context, room, after string, limit int) (wire.RoomPage, error) {
	if !cl.up.Load() {
		return wire.RoomPage{}, ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, redisWait)
	defer cancel()
	nodes, err := cl.alive(ctx)
	if err != nil {
		cl.failed(err)
		return wire.RoomPage{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	users, n, more, err := cl.page(ctx, nodes, func(node string) string { return memberKey(node, room) }, after, limit)
	if err != nil {
		cl.failed(err)
		return wire.RoomPage{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	pg := wire.RoomPage{Room: room, Users: n, Members: users}
	if more {
		pg.Next = users[len(users)-1]
	}
	return pg, nil
}

// RoomList pages through the rooms with users on any node alive, in name
// order, with their user counts (added up as RoomMembers does).
func (cl *Cluster) RoomList(ctx context.Context, after string, limit int) (wire.RoomsPage, error) {
	if !cl.up.Load() {
		return wire.RoomsPage{}, ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, redisWait)
	defer cancel()
	nodes, err := cl.alive(ctx)
	if err == nil {
		var names []string
		var more bool
		names, _, more, err = cl.page(ctx, nodes, func(node string) string { return keyNodeRooms + node }, after, limit)
		if err == nil {
			cards := make([]*redis.IntCmd, 0, len(names)*len(nodes))
			_, err = cl.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, room := range names {
					for _, node := range nodes {
						cards = append(cards, p.ZCard(ctx, memberKey(node, room)))
					}
				}
				return nil
			})
			if err == nil {
				pg := wire.RoomsPage{Rooms: make([]wire.RoomCount, len(names))}
				for i, room := range names {
					pg.Rooms[i].Room = room
					for j := range nodes {
						pg.Rooms[i].Users += int(cards[i*len(nodes)+j].Val())
					}
				}
				if more {
					pg.Next = names[len(names)-1]
				}
				return pg, nil
			}
		}
	}
	cl.failed(err)
	return wire.RoomsPage{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
}

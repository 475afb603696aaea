package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/wire"
)

// The worker keeps Redis up to date with this node: which users and rooms
// it has (presence, subscriptions), that it is alive (heartbeats), and
// notices outages. It never delivers: a Redis slow to answer it delays no
// message.

// run is the worker: it applies the subscriptions and presence the loops
// noted, hands resumes on once their channels are subscribed, and beats.
func (cl *Cluster) run() {
	defer cl.wg.Done()
	// A tick every 100 ms: a heartbeat every tenth while Redis answers,
	// a look for it at every one while it does not, so that the node is
	// back within a tick of Redis.
	tick := time.NewTicker(minBackoff)
	defer tick.Stop()
	backoff := minBackoff
	var retry <-chan time.Time
	ticks := 0
	for {
		select {
		case <-cl.stop:
			return
		case <-cl.wake:
			cl.flush()
		case k := <-cl.rebuild: // nil but on Redis Cluster
			cl.reopenShard(k)
		case <-retry:
			retry = nil
			cl.flush()
		case <-tick.C:
			ticks++
			if cl.up.Load() && ticks%int(heartbeat/minBackoff) != 0 {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), redisWait)
			if cl.up.Load() {
				cl.beat(ctx)
			} else if cl.checkUp(ctx) {
				cl.flush()
			}
			cancel()
		}
		if !cl.up.Load() && retry == nil && cl.pending() {
			// Work waits for Redis: try again later, backing off.
			retry = time.After(backoff)
			backoff = min(2*backoff, maxBackoff)
		} else if cl.up.Load() {
			backoff = minBackoff
		}
	}
}

// pending reports whether work is queued.
func (cl *Cluster) pending() bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return len(cl.users)+len(cl.rooms)+len(cl.members) > 0 || cl.resync
}

func (cl *Cluster) kick() {
	select {
	case cl.wake <- struct{}{}:
	default:
	}
}

// Arrived records that user has a new local connection. It runs on a
// loop and never blocks.
func (cl *Cluster) Arrived(user string) { cl.note(user) }

// Leaving is told that a connection of user is about to leave this node:
// the cluster needs nothing until it has (Left).
func (cl *Cluster) Leaving(string) {}

// Left records that a local connection of user closed. It runs on a loop
// and never blocks.
func (cl *Cluster) Left(user string) { cl.note(user) }

// note records that user's local connections changed.
func (cl *Cluster) note(user string) {
	cl.mu.Lock()
	cl.users[user] = struct{}{}
	cl.mu.Unlock()
	cl.kick()
}

// Joined records that room may have gained its first local member. It
// runs on a loop and never blocks.
func (cl *Cluster) Joined(room string) {
	cl.mu.Lock()
	cl.rooms[room] = struct{}{}
	cl.mu.Unlock()
	cl.kick()
}

// flush does the queued work: subscriptions and presence first, then the
// resumes go to the receiver, which reads their history only once Redis
// confirms this node receives what follows it, then the room memberships
// (rooms.go).
func (cl *Cluster) flush() {
	cl.mu.Lock()
	users, rooms, resumes := cl.users, cl.rooms, cl.resumes
	cl.users, cl.rooms, cl.resumes = map[string]struct{}{}, map[string]struct{}{}, nil
	members, resync := cl.members, cl.resync
	cl.members, cl.resync = map[[2]string]struct{}{}, false
	cl.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), redisWait)
	defer cancel()
	if err := cl.subscribe(ctx, users, rooms); err != nil {
		cl.failed(err)
		// Keep them for the next try; resumes cannot wait.
		cl.mu.Lock()
		for u := range users {
			cl.users[u] = struct{}{}
		}
		for r := range rooms {
			cl.rooms[r] = struct{}{}
		}
		cl.mu.Unlock()
	}
	for _, j := range resumes {
		select {
		case cl.ready <- j:
		default:
			cl.dropped.Add(1)
			j.fail()
		}
	}
	// The rooms for the API's reads last, on a deadline of their own:
	// presence, subscriptions and resumes, which deliveries wait for,
	// never wait for them.
	mctx, mcancel := context.WithTimeout(context.Background(), redisWait)
	defer mcancel()
	if err := cl.writeMembers(mctx, members, resync); err != nil {
		cl.failed(err)
		cl.mu.Lock()
		if resync || cl.resync || len(cl.members)+len(members) > maxMemberQueue {
			clear(cl.members)
			cl.resync = true
		} else {
			for pr := range members {
				cl.members[pr] = struct{}{}
			}
		}
		cl.mu.Unlock()
	}
}

// subscribe brings this node's subscriptions and presence up to date for
// users and rooms whose local membership changed.
func (cl *Cluster) subscribe(ctx context.Context, users, rooms map[string]struct{}) error {
	var sub, unsub []string
	now := time.Now().UnixMilli()
	var last, since *redis.StringCmd
	checks := map[int]*redis.Cmd{}
	_, err := cl.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		// The last position before this node subscribes: whatever it
		// receives on the new channels comes after it. A Redis that has
		// not published anything yet has no last position: its history
		// starts at since, and nothing before it is missing. On Redis
		// Cluster, the partition's (checkScript, which checks its epoch
		// first).
		if cl.lay.sharded() {
			for u := range users {
				if k := cl.lay.userPart(u); checks[k] == nil && !cl.subUsers[u] {
					checks[k] = cl.checkPart(ctx, p, k)
				}
			}
			for r := range rooms {
				if k := cl.lay.roomPart(r); checks[k] == nil && !cl.subRooms[r] {
					checks[k] = cl.checkPart(ctx, p, k)
				}
			}
		} else {
			last = p.Get(ctx, cl.lay.posKey(0))
			since = p.Get(ctx, cl.lay.sinceKey(0))
		}
		for u := range users {
			key := cl.lay.presenceKey(u)
			if n := cl.eng.UserConns(u); n > 0 {
				p.HSet(ctx, key, cl.node, n)
				if !cl.subUsers[u] {
					sub = append(sub, cl.lay.userCh(u))
				}
				p.PExpire(ctx, key, presenceTTL)
			} else {
				p.HDel(ctx, key, cl.node)
				p.HSet(ctx, key, fieldSeen, now)
				if cl.subUsers[u] {
					unsub = append(unsub, cl.lay.userCh(u))
				}
				// Gone from this node: the hash says when for as long
				// as it matters (the offline grace, the history's TTL
				// for which its stream is kept), not a day.
				p.PExpire(ctx, key, max(cl.cfg.OfflineGrace, cl.cfg.HistoryTTL, nodeTimeout))
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	var start history.Pos
	starts := map[int]history.Pos{}
	if cl.lay.sharded() {
		for k, c := range checks {
			out, err := c.Slice()
			if err != nil {
				return err
			}
			if len(out) < 4 {
				return fmt.Errorf("cluster: checkScript answered %v", out)
			}
			cl.lostFound(k, out[3])
			a, _ := out[0].(string)
			b, _ := out[1].(string)
			pa, _ := history.ParsePos(a)
			pb, _ := history.ParsePos(b)
			starts[k] = max(pa, pb)
		}
	} else {
		start, _ = history.ParsePos(last.Val())
		if sp, err := history.ParsePos(since.Val()); err == nil {
			start = max(start, sp)
		}
	}
	for r := range rooms {
		if !cl.subRooms[r] && cl.eng.HasRoom(r) {
			sub = append(sub, cl.lay.roomCh(r))
		}
	}
	// Recorded before SUBSCRIBE goes out: the receiver may see Redis's
	// confirmation before Subscribe returns.
	at := time.Now()
	cl.umu.Lock()
	for _, ch := range sub {
		cl.unconfirmed[ch] = at
		cl.startAt[ch] = start
		if cl.lay.sharded() {
			_, _, k := cl.lay.parse(ch)
			cl.startAt[ch] = starts[k]
		}
	}
	cl.umu.Unlock()
	if len(sub) > 0 {
		if err := cl.subscribeChannels(ctx, sub, true); err != nil {
			cl.umu.Lock()
			for _, ch := range sub {
				delete(cl.unconfirmed, ch)
				delete(cl.startAt, ch)
			}
			cl.umu.Unlock()
			return err
		}
	}
	if len(unsub) > 0 {
		if err := cl.subscribeChannels(ctx, unsub, false); err != nil {
			return err
		}
	}
	for _, ch := range sub {
		cl.subscribed(ch, true)
	}
	cl.umu.Lock()
	for _, ch := range unsub {
		cl.subscribed(ch, false)
		delete(cl.unconfirmed, ch)
	}
	cl.umu.Unlock()
	return nil
}

// subscribeChannels subscribes to chs, or unsubscribes from them: on
// Redis Cluster each on its partition's PubSub (shards.go).
func (cl *Cluster) subscribeChannels(ctx context.Context, chs []string, on bool) error {
	switch {
	case cl.lay.sharded():
		return cl.shardSubscribe(ctx, chs, on)
	case on:
		return cl.ps.Subscribe(ctx, chs...)
	default:
		return cl.ps.Unsubscribe(ctx, chs...)
	}
}

func (cl *Cluster) subscribed(ch string, on bool) {
	kind, name, _ := cl.lay.parse(ch)
	if kind == chKindUser {
		u := name
		if on {
			cl.subUsers[u] = true
		} else {
			delete(cl.subUsers, u)
		}
	} else if kind == chKindRoom {
		r := name
		if on {
			cl.subRooms[r] = true
		} else {
			delete(cl.subRooms, r)
		}
	}
}

// failed records a Redis call that failed and marks Redis down.
func (cl *Cluster) failed(err error) {
	cl.errs.Add(1)
	if cl.up.Swap(false) {
		cl.downSince.Store(time.Now().UnixMilli())
		cl.log.Warn("redis is down: serving this node's clients only", "node", cl.node, "err", err)
	}
}

// checkUp pings Redis; when it answers again after an outage, the node
// registers again (Redis may have restarted empty).
func (cl *Cluster) checkUp(ctx context.Context) bool {
	if err := cl.rdb.Ping(ctx).Err(); err != nil {
		cl.failed(err)
		return false
	}
	if !cl.up.Load() || cl.newInstance.Swap(false) {
		script := publishScript
		if cl.lay.sharded() {
			script = partScript
		}
		if err := script.Load(ctx, cl.rdb).Err(); err != nil {
			cl.failed(err)
			return false
		}
		if err := cl.register(ctx); err != nil {
			cl.failed(err)
			return false
		}
		if cl.downSince.Swap(0) != 0 {
			cl.reconnects.Add(1)
			cl.log.Info("redis is back", "node", cl.node)
		}
		cl.up.Store(true)
	}
	return true
}

// sinceScript sets keySince, when this Redis has none, to just before the
// first position it can hand out: from Redis's clock, as positions are,
// not from the node's.
var sinceScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[1], string.format('%d-%d', ms - 1, 1048575))
return 1
`)

// register (re)writes what Redis must know of this node: where history
// starts, and the presence of every local user.
func (cl *Cluster) register(ctx context.Context) error {
	_, err := cl.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if !cl.lay.sharded() { // on Redis Cluster, each partition's scripts set its own
			sinceScript.Eval(ctx, p, []string{cl.lay.sinceKey(0)})
		}
		p.ZAdd(ctx, cl.lay.nodesKey(), redis.Z{Score: float64(time.Now().UnixMilli()), Member: cl.node})
		return nil
	})
	if err != nil {
		return err
	}
	users := cl.eng.LocalUsers(ctx)
	cl.mu.Lock()
	for _, u := range users {
		cl.users[u] = struct{}{}
	}
	// Redis may have restarted empty, or this node's name held rooms
	// before it started: its rooms are written again, whole.
	clear(cl.members)
	cl.resync = true
	cl.mu.Unlock()
	cl.kick()
	return nil
}

// beat says this node is alive, reads the others, drops subscriptions of
// rooms that have no local member any more, and notices outages.
func (cl *Cluster) beat(ctx context.Context) {
	if !cl.checkUp(ctx) {
		return
	}
	me := wire.NodeStat{Connections: cl.eng.Conns(), Users: int64(cl.eng.Users())}
	if cl.cfg.Report != nil {
		me = cl.cfg.Report()
	}
	me.Node, me.RedisMs = cl.node, float64(cl.rtt.Load())/1000
	mine, _ := json.Marshal(me)
	now := time.Now()
	var ids *redis.ZSliceCmd
	_, err := cl.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, cl.lay.nodesKey(), redis.Z{Score: float64(now.UnixMilli()), Member: cl.node})
		p.Set(ctx, cl.lay.statsKey(cl.node), mine, nodeTimeout)
		p.ZRemRangeByScore(ctx, cl.lay.nodesKey(), "-inf", strconv.FormatInt(now.Add(-nodeTimeout).UnixMilli(), 10))
		ids = p.ZRangeWithScores(ctx, cl.lay.nodesKey(), 0, -1)
		return nil
	})
	cl.beatNanos.Store(int64(time.Since(now)))
	if err != nil {
		cl.failed(err)
		return
	}
	cl.rtt.Store(time.Since(now).Microseconds())
	cs := &wire.ClusterStats{Node: cl.node, Redis: "up", Nodes: len(ids.Val())}
	names := make([]string, len(ids.Val()))
	for i, z := range ids.Val() {
		names[i], _ = z.Member.(string)
	}
	alive := "\n" + strings.Join(names, "\n") + "\n"
	cl.aliveIDs.Store(&alive)
	if len(ids.Val()) > 0 {
		keys := make([]string, len(ids.Val()))
		for i, z := range ids.Val() {
			keys[i] = cl.lay.statsKey(z.Member.(string))
		}
		vals, err := cl.rdb.MGet(ctx, keys...).Result()
		if err != nil {
			cl.failed(err)
			return
		}
		for i, v := range vals {
			var ns wire.NodeStat
			if s, ok := v.(string); ok && json.Unmarshal([]byte(s), &ns) == nil {
				cs.Connections += ns.Connections
				cs.Users += ns.Users
				ns.Node = ids.Val()[i].Member.(string)
				ns.Seen = time.UnixMilli(int64(ids.Val()[i].Score))
				cs.NodeList = append(cs.NodeList, ns)
			}
		}
		slices.SortFunc(cs.NodeList, func(a, b wire.NodeStat) int { return strings.Compare(a.Node, b.Node) })
	}
	cl.stats.Store(cs)
	if now.Sub(cl.lastTouch) >= roomsTouch {
		if err := cl.touchRooms(ctx); err != nil {
			cl.failed(err)
			return
		}
		cl.lastTouch = now
	}
	var gone []string
	for r := range cl.subRooms {
		if !cl.eng.HasRoom(r) {
			gone = append(gone, cl.lay.roomCh(r))
		}
	}
	if len(gone) > 0 {
		if err := cl.subscribeChannels(ctx, gone, false); err != nil {
			cl.failed(err)
			return
		}
		for _, ch := range gone {
			cl.subscribed(ch, false)
		}
	}
	if cl.pending() {
		cl.kick()
	}
}

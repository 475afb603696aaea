package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/redis/go-redis/v9"

	"github.com/wspush/wspush/frame"
	"github.com/wspush/wspush/pool"
)

// The cluster (docs/cluster.md): nodes that share one Redis. Every push,
// room publish and broadcast, from the API or from a client of any node,
// runs one Lua script in Redis that gives it its position, keeps it in the
// streams of its users or room (XADD MAXLEN, trimmed by age, PEXPIRE) and
// PUBLISHes it on the channels of its receivers:
//
//	wspush:b          broadcasts; every node subscribes
//	wspush:r:ROOM     a room; the nodes with local members subscribe
//	wspush:u:USER     a user; the nodes where the user is connected subscribe
//
// so a message goes only to the nodes that have receivers for it, once
// each, and in the order of its positions. A node delivers what it
// receives through the loops' outboxes, as a single node does; even its own
// API's pushes come back to it through Redis, so that every node sees one
// order. All Redis I/O happens on the cluster's goroutine and on the API's
// goroutines, never on an event loop.
//
// When Redis does not answer, a node delivers pushes made on it to its own
// connections only, with positions from its own clock, counts them
// (wspush_cluster_local_only_total), reports the outage in /healthz and the
// metrics, and retries with backoff; go-redis re-subscribes when it
// reconnects.

// Redis key layout, all under one prefix.
const (
	keyPos      = "wspush:pos"     // the last position handed out
	keySince    = "wspush:since"   // the position this Redis's history starts at
	keyNodes    = "wspush:nodes"   // sorted set: node -> last heartbeat, ms
	keyStats    = "wspush:stats:"  // + node: the node's counters, JSON, expiring
	keyPresence = "wspush:p:"      // + user: hash node -> connections, "seen" -> ms of the last close
	keyHistory  = "wspush:h:"      // + stream ("u:USER", "r:ROOM")
	chBroadcast = "wspush:b"       // broadcasts
	chRoom      = "wspush:r:"      // + room
	chUser      = "wspush:u:"      // + user
	fieldSeen   = "seen"           // presence: ms when a node's last connection of the user closed
	presenceTTL = 24 * time.Hour   // a user's presence hash outlives any node that forgot to clean it
	heartbeat   = time.Second      // how often a node says it is alive and reads the others
	nodeTimeout = 5 * heartbeat    // a node silent this long is dead: its presence and stats no longer count
	redisWait   = 2 * time.Second  // one Redis call's bound
	maxBackoff  = 10 * time.Second // the longest wait between two tries of a Redis that is down
	minBackoff  = 100 * time.Millisecond
)

// publishScript hands out the next position, keeps the message in its
// streams and publishes it. KEYS[1] is keyPos, KEYS[2..] the streams.
// ARGV: max length, TTL in ms, the envelope's head and tail (the position
// goes between them), "1" if the envelope carries the position, then the
// channels. It returns the position and what each PUBLISH reached.
var publishScript = redis.NewScript(`
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local seq = 0
local last = redis.call('GET', KEYS[1])
if last then
  local lms, lseq = string.match(last, '^(%d+)-(%d+)$')
  lms = tonumber(lms)
  if ms <= lms then
    ms = lms
    seq = tonumber(lseq) + 1
    if seq >= 1048576 then ms = ms + 1; seq = 0 end
  end
end
local id = string.format('%d-%d', ms, seq)
redis.call('SET', KEYS[1], id)
local env = ARGV[3]
if ARGV[5] == '1' then env = ARGV[3] .. id .. ARGV[4] end
for i = 2, #KEYS do
  redis.call('XADD', KEYS[i], 'MAXLEN', ARGV[1], id, 'm', env)
  redis.call('XTRIM', KEYS[i], 'MINID', string.format('%d', ms - tonumber(ARGV[2])))
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
local res = {id}
local msg = id .. ' ' .. env
for i = 6, #ARGV do
  res[#res + 1] = redis.call('PUBLISH', ARGV[i], msg)
end
return res
`)

// cluster is a node's link to the others. Its methods are safe for any
// goroutine; those an event loop calls (note, noteRoom, resume, and
// publish or push with noWait) only queue work and never block.
type cluster struct {
	s    *Server
	node string
	rdb  *redis.Client
	ps   *redis.PubSub
	msgs <-chan any // *redis.Message, and *redis.Subscription confirmations

	up        atomic.Bool
	downSince atomic.Int64 // unix ms when Redis stopped answering; 0: up
	stats     atomic.Pointer[ClusterStats]

	// Counters, ever.
	published  atomic.Int64 // messages published through Redis
	received   atomic.Int64 // messages received from Redis
	localOnly  atomic.Int64 // pushes delivered to this node's clients only: Redis was down
	errs       atomic.Int64 // Redis calls that failed
	reconnects atomic.Int64 // outages that ended

	mu      sync.Mutex // guards the queue below
	users   map[string]struct{}
	rooms   map[string]struct{}
	resumes []resumeJob
	sends   []clusterMsg // from clients: published by the worker
	wake    chan struct{}

	// Owned by the worker goroutine.
	subUsers map[string]bool
	subRooms map[string]bool
	// Channels subscribed to but not yet confirmed by Redis, and the
	// resumes that wait for them: a resume reads the history only once
	// Redis sends this node what follows.
	unconfirmed map[string]time.Time
	parked      []resumeJob

	stop chan struct{}
	done chan struct{}
}

// clusterMsg is a push to publish: to users, to a room or to everyone.
type clusterMsg struct {
	kind  string // kindPush, kindPublish or kindBroadcast
	users []string
	room  string
	from  string
	data  json.RawMessage
}

// resumeJob is a connection's resume, to be read from Redis.
type resumeJob struct {
	c    *conn
	user string
	want []streamPos
	ref  []byte
}

// ClusterStats is what GET /v1/stats adds in a cluster.
type ClusterStats struct {
	Node        string `json:"node"`
	Redis       string `json:"redis"` // "up" or "down"
	Nodes       int    `json:"nodes"` // nodes alive, this one included
	Connections int64  `json:"connections"`
	// Users sums each node's users: a user connected to two nodes counts twice.
	Users     int64 `json:"users"`
	Published int64 `json:"published"`  // by this node, ever
	Received  int64 `json:"received"`   // by this node, ever
	LocalOnly int64 `json:"local_only"` // pushes this node could only deliver locally, ever
}

// nodeStats is what a node writes to Redis on each heartbeat.
type nodeStats struct {
	Connections int64 `json:"connections"`
	Users       int64 `json:"users"`
}

// redisOptions parses a redis:// URL and sets the timeouts the cluster
// needs: no Redis call may hang a goroutine for long.
func redisOptions(url string) (*redis.Options, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		// The parser's error repeats the URL, password included.
		return nil, fmt.Errorf("server: --redis %q: %s", RedactURL(url), scrubURLSecret(err.Error(), url))
	}
	opt.DialTimeout = redisWait
	opt.ReadTimeout = redisWait
	opt.WriteTimeout = redisWait
	opt.MaxRetries = 1
	opt.PoolSize = max(opt.PoolSize, 16)
	return opt, nil
}

func newCluster(s *Server) *cluster {
	opt, err := redisOptions(s.cfg.Redis)
	if err != nil {
		// Validate refuses it before Serve starts anything.
		opt = &redis.Options{}
	}
	node := s.cfg.Node
	if node == "" {
		host, _ := os.Hostname()
		node = host + "-" + strconv.FormatUint(rand.Uint64()%1e6, 36)
	}
	return &cluster{
		s: s, node: node, rdb: redis.NewClient(opt),
		users: map[string]struct{}{}, rooms: map[string]struct{}{},
		wake:     make(chan struct{}, 1),
		subUsers: map[string]bool{}, subRooms: map[string]bool{}, unconfirmed: map[string]time.Time{},
		stop: make(chan struct{}), done: make(chan struct{}),
	}
}

// history reports whether messages are kept for resumes.
func (cl *cluster) history() bool { return cl.s.cfg.HistorySize > 0 && cl.s.cfg.HistoryTTL > 0 }

// start subscribes to broadcasts and starts the worker. A Redis that is
// down is not an error: the node serves locally until it comes back.
func (cl *cluster) start() {
	ctx, cancel := context.WithTimeout(context.Background(), redisWait)
	defer cancel()
	cl.ps = cl.rdb.Subscribe(ctx, chBroadcast, chControl)
	cl.msgs = cl.ps.ChannelWithSubscriptions(redis.WithChannelSize(4096))
	cl.checkUp(ctx)
	go cl.run()
}

// close stops the worker, takes the node out of the cluster and closes
// the Redis connections.
func (cl *cluster) close() {
	select {
	case <-cl.stop:
		return
	default:
	}
	close(cl.stop)
	<-cl.done
	ctx, cancel := context.WithTimeout(context.Background(), redisWait)
	defer cancel()
	if cl.up.Load() {
		_, _ = cl.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.ZRem(ctx, keyNodes, cl.node)
			p.Del(ctx, keyStats+cl.node)
			return nil
		})
	}
	_ = cl.ps.Close()
	_ = cl.rdb.Close()
}

// run is the worker: it delivers what Redis publishes, applies the
// subscriptions and presence the loops noted, serves resumes and beats.
func (cl *cluster) run() {
	defer close(cl.done)
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	backoff := minBackoff
	var retry <-chan time.Time
	for {
		select {
		case <-cl.stop:
			return
		case m := <-cl.msgs:
			switch m := m.(type) {
			case *redis.Message:
				cl.deliver(m)
			case *redis.Subscription:
				if m.Kind == "subscribe" {
					cl.confirmed(m.Channel)
				}
			}
		case <-cl.wake:
			cl.flush()
		case <-retry:
			retry = nil
			cl.flush()
		case <-tick.C:
			ctx, cancel := context.WithTimeout(context.Background(), redisWait)
			cl.beat(ctx)
			cancel()
			cl.serveLate()
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
func (cl *cluster) pending() bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return len(cl.users)+len(cl.rooms)+len(cl.sends) > 0
}

func (cl *cluster) kick() {
	select {
	case cl.wake <- struct{}{}:
	default:
	}
}

// note records that user's local connections changed. It runs on a loop.
func (cl *cluster) note(user string, _ int) {
	cl.mu.Lock()
	cl.users[user] = struct{}{}
	cl.mu.Unlock()
	cl.kick()
}

// noteRoom records that room may have gained its first local member. It
// runs on a loop.
func (cl *cluster) noteRoom(room string) {
	cl.mu.Lock()
	cl.rooms[room] = struct{}{}
	cl.mu.Unlock()
	cl.kick()
}

// resume queues a connection's resume. It runs on the connection's loop,
// which has joined the rooms and holds the live messages.
func (cl *cluster) resume(c *conn, user string, want []streamPos, ref []byte) {
	cl.mu.Lock()
	for _, sp := range want {
		if sp.room != "" {
			cl.rooms[sp.room] = struct{}{}
		}
	}
	cl.resumes = append(cl.resumes, resumeJob{c: c, user: user, want: want, ref: append([]byte(nil), ref...)})
	cl.mu.Unlock()
	cl.kick()
}

// flush does the queued work: subscriptions and presence first, so that a
// resume reads the history only once this node receives what follows it.
func (cl *cluster) flush() {
	cl.mu.Lock()
	users, rooms, resumes, sends := cl.users, cl.rooms, cl.resumes, cl.sends
	cl.users, cl.rooms, cl.resumes, cl.sends = map[string]struct{}{}, map[string]struct{}{}, nil, nil
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
	for _, m := range sends {
		_, _ = cl.send(ctx, m)
	}
	cl.parked = append(cl.parked, resumes...)
	cl.serveReady(ctx)
}

// confirmed notes Redis's confirmation of a subscription and serves the
// resumes that waited for it.
func (cl *cluster) confirmed(ch string) {
	delete(cl.unconfirmed, ch)
	if len(cl.parked) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), redisWait)
		defer cancel()
		cl.serveReady(ctx)
	}
}

// serveReady serves the parked resumes whose channels are all confirmed,
// or have waited redisWait for it (Redis is down: the resume gets gaps).
func (cl *cluster) serveReady(ctx context.Context) {
	var ready, wait []resumeJob
	now := time.Now()
	for _, j := range cl.parked {
		ok := true
		for _, ch := range j.channels() {
			if t, pending := cl.unconfirmed[ch]; pending && now.Sub(t) < redisWait {
				ok = false
			}
		}
		if ok {
			ready = append(ready, j)
		} else {
			wait = append(wait, j)
		}
	}
	cl.parked = wait
	if len(ready) > 0 {
		cl.serveResumes(ctx, ready)
	}
}

// channels are the channels whose messages a resume replays.
func (j resumeJob) channels() []string {
	chs := []string{chUser + j.user}
	for _, sp := range j.want {
		if sp.room != "" {
			chs = append(chs, chRoom+sp.room)
		}
	}
	return chs
}

// subscribe brings this node's subscriptions and presence up to date for
// users and rooms whose local membership changed.
func (cl *cluster) subscribe(ctx context.Context, users, rooms map[string]struct{}) error {
	var sub, unsub []string
	now := time.Now().UnixMilli()
	_, err := cl.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for u := range users {
			key := keyPresence + u
			if n := cl.s.pool.UserConns(u); n > 0 {
				p.HSet(ctx, key, cl.node, n)
				if !cl.subUsers[u] {
					sub = append(sub, chUser+u)
				}
			} else {
				p.HDel(ctx, key, cl.node)
				p.HSet(ctx, key, fieldSeen, now)
				if cl.subUsers[u] {
					unsub = append(unsub, chUser+u)
				}
			}
			p.PExpire(ctx, key, presenceTTL)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for r := range rooms {
		if !cl.subRooms[r] && cl.s.pool.Room(r) != nil {
			sub = append(sub, chRoom+r)
		}
	}
	if len(sub) > 0 {
		if err := cl.ps.Subscribe(ctx, sub...); err != nil {
			return err
		}
	}
	if len(unsub) > 0 {
		if err := cl.ps.Unsubscribe(ctx, unsub...); err != nil {
			return err
		}
	}
	now = time.Now().UnixMilli()
	for _, ch := range sub {
		cl.subscribed(ch, true)
		cl.unconfirmed[ch] = time.UnixMilli(now)
	}
	for _, ch := range unsub {
		cl.subscribed(ch, false)
		delete(cl.unconfirmed, ch)
	}
	return nil
}

func (cl *cluster) subscribed(ch string, on bool) {
	if u, ok := strings.CutPrefix(ch, chUser); ok {
		if on {
			cl.subUsers[u] = true
		} else {
			delete(cl.subUsers, u)
		}
	} else if r, ok := strings.CutPrefix(ch, chRoom); ok {
		if on {
			cl.subRooms[r] = true
		} else {
			delete(cl.subRooms, r)
		}
	}
}

// failed records a Redis call that failed and marks Redis down.
func (cl *cluster) failed(err error) {
	cl.errs.Add(1)
	if cl.up.Swap(false) {
		cl.downSince.Store(time.Now().UnixMilli())
		cl.s.log.Warn("redis is down: serving this node's clients only", "node", cl.node, "err", err)
	}
}

// checkUp pings Redis; when it answers again after an outage, the node
// registers again (Redis may have restarted empty).
func (cl *cluster) checkUp(ctx context.Context) bool {
	if err := cl.rdb.Ping(ctx).Err(); err != nil {
		cl.failed(err)
		return false
	}
	if !cl.up.Load() {
		if err := cl.register(ctx); err != nil {
			cl.failed(err)
			return false
		}
		if cl.downSince.Swap(0) != 0 {
			cl.reconnects.Add(1)
			cl.s.log.Info("redis is back", "node", cl.node)
		}
		cl.up.Store(true)
	}
	return true
}

// register (re)writes what Redis must know of this node: where history
// starts, and the presence of every local user.
func (cl *cluster) register(ctx context.Context) error {
	since := makePos(time.Now().UnixMilli(), 0)
	_, err := cl.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SetNX(ctx, keySince, since.String(), 0)
		p.ZAdd(ctx, keyNodes, redis.Z{Score: float64(time.Now().UnixMilli()), Member: cl.node})
		return nil
	})
	if err != nil {
		return err
	}
	users := cl.localUsers()
	cl.mu.Lock()
	for _, u := range users {
		cl.users[u] = struct{}{}
	}
	cl.mu.Unlock()
	cl.kick()
	return nil
}

// localUsers lists the users connected to this node, asking each loop.
func (cl *cluster) localUsers() []string {
	var mu sync.Mutex
	seen := map[string]struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), redisWait)
	defer cancel()
	_, _ = cl.s.fan(ctx, nil, func(l *loop) job {
		return job{fn: func(l *loop) int {
			mu.Lock()
			defer mu.Unlock()
			l.s.pool.Shard(l.idx).Each(func(m *pool.Member) { seen[m.User] = struct{}{} })
			return 0
		}}
	})
	mu.Lock()
	defer mu.Unlock()
	users := make([]string, 0, len(seen))
	for u := range seen {
		users = append(users, u)
	}
	return users
}

// beat says this node is alive, reads the others, drops subscriptions of
// rooms that have no local member any more, and notices outages.
func (cl *cluster) beat(ctx context.Context) {
	if !cl.checkUp(ctx) {
		return
	}
	st := cl.s.Stats()
	mine, _ := json.Marshal(nodeStats{Connections: st.Connections, Users: int64(st.Users)})
	now := time.Now()
	var ids *redis.StringSliceCmd
	_, err := cl.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, keyNodes, redis.Z{Score: float64(now.UnixMilli()), Member: cl.node})
		p.Set(ctx, keyStats+cl.node, mine, nodeTimeout)
		p.ZRemRangeByScore(ctx, keyNodes, "-inf", strconv.FormatInt(now.Add(-nodeTimeout).UnixMilli(), 10))
		ids = p.ZRange(ctx, keyNodes, 0, -1)
		return nil
	})
	if err != nil {
		cl.failed(err)
		return
	}
	cs := &ClusterStats{Node: cl.node, Redis: "up", Nodes: len(ids.Val())}
	if len(ids.Val()) > 0 {
		keys := make([]string, len(ids.Val()))
		for i, id := range ids.Val() {
			keys[i] = keyStats + id
		}
		vals, err := cl.rdb.MGet(ctx, keys...).Result()
		if err != nil {
			cl.failed(err)
			return
		}
		for _, v := range vals {
			var ns nodeStats
			if s, ok := v.(string); ok && json.Unmarshal([]byte(s), &ns) == nil {
				cs.Connections += ns.Connections
				cs.Users += ns.Users
			}
		}
	}
	cl.stats.Store(cs)
	var gone []string
	for r := range cl.subRooms {
		if cl.s.pool.Room(r) == nil {
			gone = append(gone, chRoom+r)
		}
	}
	if len(gone) > 0 {
		if err := cl.ps.Unsubscribe(ctx, gone...); err != nil {
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

// serveLate serves the resumes that have waited too long for a
// confirmation.
func (cl *cluster) serveLate() {
	if len(cl.parked) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisWait)
	defer cancel()
	cl.serveReady(ctx)
}

// Stats returns the cluster's figures as of the last heartbeat.
func (cl *cluster) Stats() *ClusterStats {
	cs := ClusterStats{Node: cl.node, Redis: "down", Nodes: 1}
	if p := cl.stats.Load(); p != nil && cl.up.Load() {
		cs = *p
	}
	if !cl.up.Load() {
		st := cl.s.pool
		cs.Connections, cs.Users = int64(st.Conns()), int64(st.Users())
	}
	cs.Published, cs.Received, cs.LocalOnly = cl.published.Load(), cl.received.Load(), cl.localOnly.Load()
	return &cs
}

// presence adds up a user's connections on the nodes alive.
func (cl *cluster) presence(user string) (Presence, error) {
	if !cl.up.Load() {
		return Presence{}, errors.New("server: redis is down")
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisWait)
	defer cancel()
	now := time.Now()
	var h *redis.MapStringStringCmd
	var alive *redis.StringSliceCmd
	_, err := cl.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		h = p.HGetAll(ctx, keyPresence+user)
		alive = p.ZRangeByScore(ctx, keyNodes, &redis.ZRangeBy{
			Min: strconv.FormatInt(now.Add(-nodeTimeout).UnixMilli(), 10), Max: "+inf"})
		return nil
	})
	if err != nil {
		cl.failed(err)
		return Presence{}, err
	}
	p := Presence{User: user}
	for _, node := range alive.Val() {
		n, _ := strconv.Atoi(h.Val()[node])
		p.Connections += n
	}
	seen, _ := strconv.ParseInt(h.Val()[fieldSeen], 10, 64)
	p.Online = p.Connections > 0 || now.Sub(time.UnixMilli(seen)) < cl.s.cfg.OfflineGrace
	return p, nil
}

// publish sends a room publish or a broadcast through Redis. With noWait
// (or nil: a client's publish, on a loop) it only queues it. It reports the
// nodes reached, or, when Redis is down, the local connections reached.
func (cl *cluster) publish(ctx context.Context, m clusterMsg) (int, error) {
	if !waits(ctx) {
		cl.queue(m)
		return 0, nil
	}
	res, err := cl.send(ctx, m)
	return res.Delivered, err
}

// queue hands m to the worker to publish. It never blocks.
func (cl *cluster) queue(m clusterMsg) {
	cl.mu.Lock()
	cl.sends = append(cl.sends, m)
	cl.mu.Unlock()
	cl.kick()
}

// push sends a push to users through Redis; as publish. Online and
// offline tell which users some node holds a connection of.
func (cl *cluster) push(ctx context.Context, users []string, data json.RawMessage, from string) (PushResult, error) {
	m := clusterMsg{kind: kindPush, users: users, data: data, from: from}
	if !waits(ctx) {
		cl.queue(m)
		return PushResult{}, nil
	}
	return cl.send(ctx, m)
}

// send runs the publish script for m, or delivers m locally when Redis is
// down.
func (cl *cluster) send(ctx context.Context, m clusterMsg) (PushResult, error) {
	res := PushResult{Online: []string{}, Offline: []string{}}
	head := cl.s.appendEnvelopeHead(nil)
	var keys, channels []string
	switch m.kind {
	case kindBroadcast:
		channels = []string{chBroadcast}
	case kindPublish:
		keys, channels = []string{keyHistory + roomStream(m.room)}, []string{chRoom + m.room}
	default:
		for _, u := range m.users {
			keys = append(keys, keyHistory+userStream(u))
			channels = append(channels, chUser+u)
		}
	}
	withPos := cl.history() && m.kind != kindBroadcast
	if !withPos {
		keys = nil
	}
	var tail []byte
	if withPos {
		head = append(head, `,"pos":"`...)
		tail = appendEnvelopeTail([]byte{'"'}, m.data, m.room, m.from)
	} else {
		head = appendEnvelopeTail(head, m.data, m.room, m.from)
	}
	var out []any
	var err error
	if cl.up.Load() {
		args := []any{cl.s.cfg.HistorySize, cl.s.cfg.HistoryTTL.Milliseconds(), head, tail, boolArg(withPos)}
		for _, ch := range channels {
			args = append(args, ch)
		}
		out, err = publishScript.Run(ctx, cl.rdb, append([]string{keyPos}, keys...), args...).Slice()
		if err != nil {
			cl.failed(err)
		}
	}
	if !cl.up.Load() || err != nil {
		// Redis is down: this node's clients at least.
		cl.localOnly.Add(1)
		return cl.local(ctx, m, head, tail, withPos)
	}
	cl.published.Add(1)
	for i, n := range out[1:] {
		k, _ := n.(int64)
		res.Delivered += int(k)
		if m.kind == kindPush {
			if k > 0 {
				res.Online = append(res.Online, m.users[i])
			} else {
				res.Offline = append(res.Offline, m.users[i])
			}
		}
	}
	return res, nil
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// local delivers m to this node's connections only, positioned by the
// node's own clock.
func (cl *cluster) local(ctx context.Context, m clusterMsg, head, tail []byte, withPos bool) (PushResult, error) {
	env := head
	var p pos
	if withPos {
		p = cl.s.clock.next(time.Now())
		env = append(appendPos(head, p), tail...)
	}
	f := frame.AppendFrame(nil, ws.OpText, env)
	if m.kind == kindPush {
		return cl.s.pushFrame(m.users, f, p, ctx)
	}
	n, err := cl.s.deliverFrame(m.room, f, p, ctx)
	return PushResult{Delivered: n}, err
}

// deliver hands a message from Redis to the loops: "POS ENVELOPE" on the
// channel of its receivers.
func (cl *cluster) deliver(m *redis.Message) {
	cl.received.Add(1)
	if m.Channel == chControl {
		cl.applyControl(m.Payload)
		return
	}
	ps, env, ok := strings.Cut(m.Payload, " ")
	if !ok {
		return
	}
	p, _ := parsePos(ps)
	cl.s.clock.observe(p)
	if !cl.history() {
		p = 0
	}
	f := frame.AppendFrame(nil, ws.OpText, []byte(env))
	switch {
	case m.Channel == chBroadcast:
		_, _ = cl.s.deliverFrame("", f, 0, noWait)
	case strings.HasPrefix(m.Channel, chRoom):
		_, _ = cl.s.deliverFrame(m.Channel[len(chRoom):], f, p, noWait)
	case strings.HasPrefix(m.Channel, chUser):
		_, _ = cl.s.pushFrame([]string{m.Channel[len(chUser):]}, f, p, noWait)
	}
}

// serveResumes reads the streams of resuming connections from Redis and
// posts each its replay. It runs on the worker, between two messages it
// delivers: whatever Redis published before the read the replay holds,
// and the connection, holding, skipped it live; whatever after, reaches
// the loop after the replay.
func (cl *cluster) serveResumes(ctx context.Context, jobs []resumeJob) {
	type read struct {
		info *redis.XInfoStreamCmd
		rng  *redis.XMessageSliceCmd
	}
	reads := make([][]read, len(jobs))
	var since *redis.StringCmd
	_, err := cl.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		since = p.Get(ctx, keySince)
		for i, j := range jobs {
			for _, sp := range j.want {
				if sp.after == 0 && sp.room != "" {
					reads[i] = append(reads[i], read{})
					continue
				}
				key := keyHistory + userStream(j.user)
				if sp.room != "" {
					key = keyHistory + roomStream(sp.room)
				}
				reads[i] = append(reads[i], read{
					info: p.XInfoStream(ctx, key),
					rng:  p.XRangeN(ctx, key, "("+sp.after.String(), "+", int64(cl.s.cfg.HistorySize)),
				})
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) && !isNoKey(err) {
		cl.failed(err)
	}
	horizon := makePos(time.Now().Add(-cl.s.cfg.HistoryTTL).UnixMilli(), 0)
	sincePos, serr := parsePos(since.Val())
	if serr != nil {
		sincePos = makePos(time.Now().UnixMilli(), 0) // Redis has lost its history
	}
	for i, j := range jobs {
		var got []replayed
		for k, sp := range j.want {
			rd := reads[i][k]
			if rd.rng == nil {
				continue
			}
			g := replayed{room: sp.room, last: sp.after}
			floor := max(horizon, sincePos)
			if info, ierr := rd.info.Result(); ierr == nil {
				if md, err := parsePos(info.MaxDeletedEntryID); err == nil {
					floor = max(floor, md)
				}
			}
			msgs, rerr := rd.rng.Result()
			if err != nil && rerr != nil && !isNoKey(rerr) {
				g.gap = true // Redis did not answer: we cannot know
			} else {
				for _, x := range msgs {
					p, perr := parsePos(x.ID)
					env, _ := x.Values["m"].(string)
					if perr != nil || env == "" {
						continue
					}
					g.entries = append(g.entries, entry{pos: p, frame: frame.AppendFrame(nil, ws.OpText, []byte(env))})
					g.last = p
				}
				g.gap = sp.after < floor
				g.from = max(g.last, floor)
			}
			got = append(got, g)
		}
		c := j.c
		c.l.post(job{fn: func(*loop) int {
			c.replay(got, j.ref)
			return 0
		}})
	}
}

// isNoKey reports the error XINFO STREAM gives for a stream that does not
// exist.
func isNoKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such key")
}

// pushFrame writes f, a message of the users' streams at p, to this
// node's connections of users. With noWait it does not wait.
func (s *Server) pushFrame(users []string, f []byte, p pos, ctx context.Context) (PushResult, error) {
	byShard, online, offline := s.membersOf(users)
	res := PushResult{Online: online, Offline: offline}
	if len(online) == 0 {
		return res, nil
	}
	n, err := s.fan(ctx, func(i int) bool { return len(byShard[i]) > 0 }, func(l *loop) job {
		return job{frame: f, members: byShard[l.idx], pos: p}
	})
	res.Delivered = n
	return res, err
}

// deliverFrame writes f to this node's members of room, a message of the
// room's stream at p, or to every connection when room is empty. With
// noWait it does not wait.
func (s *Server) deliverFrame(room string, f []byte, p pos, ctx context.Context) (int, error) {
	if room == "" {
		return s.fan(ctx, nil, func(*loop) job { return job{frame: f, all: true} })
	}
	r := s.pool.Room(room)
	if r == nil {
		return 0, nil
	}
	return s.publishFrame(ctx, r, f, p)
}

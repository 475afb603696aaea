package cluster

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/roster"
	"github.com/wspush/wspush/server/internal/wire"
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
// order. All Redis I/O happens on the cluster's goroutines and on the
// API's, never on an event loop. Three goroutines share the work, so that
// one kind of work waiting on Redis never holds up the others:
//
//	the receiver   delivers what Redis publishes, and serves resumes in
//	               order with it (receive.go)
//	the worker     subscriptions, presence, heartbeats (worker.go)
//	the publisher  client publishes, many in flight in one pipeline (publish.go)
//
// Every position comes from Redis. When Redis does not answer, a node
// takes no message: the API answers 503 (the backend retries, with the
// message's id if it gave one, which Redis deduplicates), a client's
// publish gets an error. It reports the outage in /healthz and the
// metrics, looks for Redis every 100 ms, and when go-redis has subscribed
// again the receiver catches up each stream from the last position it
// delivered (receive.go).

// Redis key layout, all under one prefix.
const (
	keyPos      = "wspush:pos"     // the last position handed out
	keySince    = "wspush:since"   // the position this Redis's history starts at
	keyNodes    = "wspush:nodes"   // sorted set: node -> last heartbeat, ms
	keyStats    = "wspush:stats:"  // + node: the node's counters, JSON, expiring
	keyPresence = "wspush:p:"      // + user: hash node -> connections, "seen" -> ms of the last close
	keyHistory  = "wspush:h:"      // + stream ("u:USER", "r:ROOM")
	keyDedup    = "wspush:m:"      // + message id: its position, for 10 minutes
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

// Engine is what the cluster needs of this node's connections: deliver
// these bytes to these users, this room or everyone, apply a control
// message, say which users and rooms are here. Every method is safe from
// any goroutine; Post* never wait. The engine implements it; tests use a
// fake.
type Engine interface {
	PostUsers(users []string, frame []byte, p history.Pos) error
	PostRoom(room string, frame []byte, p history.Pos) error
	PostAll(frame []byte) error
	PostControl(op, room string, users []string) error
	// PostGap tells the connections of users, or of room, that messages
	// of their stream may be lost: resume from position from.
	PostGap(users []string, room string, from history.Pos) error
	UserConns(user string) int
	HasRoom(room string) bool
	LocalUsers(ctx context.Context) []string
	// Roster is who is in which room here, by user (rooms.go).
	Roster() *roster.Roster
	Conns() int64
	Users() int
	NextID() uint64
	// Backlog is how many jobs the deepest of this node's event loop
	// outboxes holds: how far behind its deliveries are.
	Backlog() int64
}

// Config configures a node of the cluster.
type Config struct {
	// Redis is the URL of the cluster's Redis: redis://host:port/db
	// (rediss://, unix://, or host:port), or
	// redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER_NAME[?db=N] for a
	// primary behind Sentinels (ParseRedis).
	Redis string
	// Passwords are the Redis and Sentinel passwords given apart from
	// the URL.
	Passwords Passwords
	// Replicas, above zero, makes Push, Publish and Broadcast wait until
	// that many replicas acknowledge the message (WAIT), within their
	// deadline; fewer is ErrReplicas.
	Replicas int
	// Node names this node. Empty means the hostname and a random suffix.
	Node string
	// HistorySize and HistoryTTL are the history kept per stream (in
	// Redis streams); either zero keeps none.
	HistorySize int
	HistoryTTL  time.Duration
	// OfflineGrace is how long a user counts as online after its last
	// connection closed on any node.
	OfflineGrace time.Duration
	// Secret, when set, signs and checks control messages between nodes
	// (HMAC-SHA256): every node of a cluster needs the same. Empty means
	// control messages are believed from whoever can publish to Redis.
	Secret string
	// MaxQueue caps the client publishes and the resumes waiting for
	// Redis; past it they are refused. Zero means 4096.
	MaxQueue int
	// MaxBacklog bounds how far behind this node's deliveries may fall:
	// while the deepest event loop outbox holds more jobs than this,
	// Push, Publish, Broadcast and PushBatch refuse with ErrBehind (503
	// busy, Retry-After) and publish nothing, instead of queueing
	// messages from Redis without end. Zero means DefaultMaxBacklog.
	MaxBacklog int
	// Logger receives the cluster's logs. Nil discards them.
	Logger *slog.Logger
	// Report, when set, is what this node's heartbeat says of it besides
	// its connections and users (wire.NodeStat): the console's list of
	// nodes. Nil says only those.
	Report func() wire.NodeStat
}

// Cluster is a node's link to the others. Its methods are safe for any
// goroutine; those an event loop calls (Arrived, Left, Joined, Read, Queue) only
// queue work and never block.
type Cluster struct {
	cfg   Config
	eng   Engine
	log   *slog.Logger
	node  string
	rdb   redis.UniversalClient
	ps    *redis.PubSub
	msgs  <-chan any // *redis.Message, and *redis.Subscription confirmations
	clock history.Clock
	lay   *layout

	// Inspecting (inspect.go): what this node answers asks from, and a
	// token per ask being answered.
	insMu  sync.Mutex
	ins    Inspector
	insSem chan struct{}
	// insDropped counts asks not answered (insSem full), insMissing
	// nodes this node's asks named missing.
	insDropped, insMissing atomic.Int64

	// Redis Cluster (shards.go): one PubSub per partition, each on the
	// shard that owns it, merged into msgs; the last position this node
	// saw per partition; and the nodes alive as of the last heartbeat.
	shards   []*redis.PubSub
	merged   chan any
	seen     []atomic.Uint64
	aliveIDs atomic.Pointer[string]
	rebuild  chan int

	up        atomic.Bool
	downSince atomic.Int64 // unix ms when Redis stopped answering; 0: up
	stats     atomic.Pointer[wire.ClusterStats]
	rtt       atomic.Int64 // the last heartbeat's round trip to Redis, µs

	// Counters, ever.
	published   atomic.Int64 // messages published through Redis
	received    atomic.Int64 // messages received from Redis
	unavailable atomic.Int64 // messages refused: Redis was down or did not answer in time
	errs        atomic.Int64 // Redis calls that failed
	reconnects  atomic.Int64 // outages that ended

	dropped      atomic.Int64           // client publishes and resumes refused by a full queue
	behind       atomic.Int64           // API calls refused while the loops were behind (ErrBehind)
	behindWait   time.Duration          // how long a call waits for them (behindWait; tests change it)
	duplicates   atomic.Int64           // publishes whose id Redis had seen: not published again
	rejected     atomic.Int64           // messages from Redis that no node sent: dropped
	lastLog      atomic.Int64           // unix nanoseconds of the last rejection logged
	catchups     atomic.Int64           // streams read again after a re-subscription
	caught       atomic.Int64           // messages those reads delivered
	gaps         atomic.Int64           // streams whose catch-up found a hole the history no longer covers
	lostWrites   atomic.Int64           // Redis instances this node found lacking writes (epoch.go)
	runID        atomic.Pointer[string] // the run id of the last Redis instance connected to (epoch.go)
	newInstance  atomic.Bool            // a connection found another instance than the last: register again
	unreplicated atomic.Int64           // messages fewer than Config.Replicas replicas acknowledged in time
	followed     atomic.Int64           // len(last): streams whose last delivered position this node keeps
	reshards     atomic.Int64           // Redis Cluster: partitions subscribed again on a new owner of their slot
	seq          atomic.Uint64
	queued       atomic.Int64 // client publishes waiting for the publisher
	beatNanos    atomic.Int64 // how long the last heartbeat pipeline took

	mu      sync.Mutex // guards the worker's queue below
	users   map[string]struct{}
	rooms   map[string]struct{}
	resumes []resumeJob
	members map[[2]string]struct{} // (room, user) whose membership here changed (rooms.go)
	resync  bool                   // rewrite all of this node's rooms in Redis instead
	wake    chan struct{}

	resyncs   atomic.Int64 // full rewrites of this node's rooms, ever
	lastTouch time.Time    // the worker's: when the room keys' TTL was last renewed

	sends chan msg       // client publishes, for the publisher
	calls chan *call     // API calls, for the senders (coalesce.go)
	ready chan resumeJob // resumes whose channels are subscribed, for the receiver

	// Owned by the worker goroutine.
	subUsers map[string]bool
	subRooms map[string]bool

	// Channels subscribed to but not yet confirmed by Redis: a resume
	// reads the history only once Redis sends this node what follows.
	// The worker adds, the receiver removes.
	umu         sync.Mutex
	unconfirmed map[string]time.Time
	startAt     map[string]history.Pos // Redis's last position before the channel's SUBSCRIBE
	leaving     map[string]bool        // Redis Cluster: channels this node SUNSUBSCRIBEd, not yet confirmed
	parked      []resumeJob            // the receiver's

	// last is, per user and room channel, the last position this node
	// delivered (or, for a channel that has delivered nothing, the last
	// it knew of when it subscribed): the receiver's alone.
	last map[string]history.Pos

	stop chan struct{}
	wg   sync.WaitGroup
}

// Kinds of message.
const (
	kindPush      = "push"
	kindPublish   = "publish"
	kindBroadcast = "broadcast"
)

// msg is a push to publish: to users, to a room or to everyone.
type msg struct {
	kind  string // kindPush, kindPublish or kindBroadcast
	id    string // deduplicates retries; "" for none
	envID string // the envelope's id; "" for one of this node's
	users []string
	room  string
	from  string
	data  json.RawMessage
}

// resumeJob is a connection's resume, to be read from Redis.
type resumeJob struct {
	user string
	want []history.Want
	done func([]history.Result)
}

// New returns the node for cfg. Bind gives it the engine of this node's
// connections; it does not connect yet: Start does.
func New(cfg Config) (*Cluster, error) {
	target, err := ParseRedis(cfg.Redis, cfg.Passwords)
	if err != nil {
		return nil, err
	}
	node := cfg.Node
	if node == "" {
		host, _ := os.Hostname()
		node = host + "-" + strconv.FormatUint(rand.Uint64()%1e6, 36)
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 4096
	}
	if cfg.MaxBacklog <= 0 {
		cfg.MaxBacklog = DefaultMaxBacklog
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cl := &Cluster{insSem: make(chan struct{}, inspectWorkers),
		cfg: cfg, log: log, node: node,
		users: map[string]struct{}{}, rooms: map[string]struct{}{}, members: map[[2]string]struct{}{},
		wake:  make(chan struct{}, 1),
		sends: make(chan msg, cfg.MaxQueue), behindWait: behindWait, calls: make(chan *call, cfg.MaxQueue), ready: make(chan resumeJob, cfg.MaxQueue),
		subUsers: map[string]bool{}, subRooms: map[string]bool{}, unconfirmed: map[string]time.Time{},
		startAt: map[string]history.Pos{}, last: map[string]history.Pos{}, leaving: map[string]bool{},
		stop: make(chan struct{}),
	}
	cl.lay = newLayout(target.Partitions())
	if cl.lay.sharded() {
		cl.seen = make([]atomic.Uint64, cl.lay.count())
		cl.rebuild = make(chan int, cl.lay.count())
	}
	// CLIENT LIST shows whose connection is whose.
	cl.rdb = target.client("wspush-"+node, cl.onConnect)
	return cl, nil
}

// History reports whether messages are kept for resumes.
func (cl *Cluster) History() bool { return cl.cfg.HistorySize > 0 && cl.cfg.HistoryTTL > 0 }

// Node is this node's name.
func (cl *Cluster) Node() string { return cl.node }

// Up reports whether Redis answered last time it was asked.
func (cl *Cluster) Up() bool { return cl.up.Load() }

// Bind makes eng the engine the cluster delivers to. It must be called
// once, before Start.
func (cl *Cluster) Bind(eng Engine) { cl.eng = eng }

// Store is where the engine's resumes read the history: the Redis
// streams, or nil when the cluster keeps none.
func (cl *Cluster) Store() history.Store {
	if !cl.History() {
		return nil
	}
	return cl
}

// Start subscribes to broadcasts and starts the goroutines. A Redis that
// is down is not an error: the node serves locally until it comes back.
func (cl *Cluster) Start() {
	ctx, cancel := context.WithTimeout(context.Background(), redisWait)
	defer cancel()
	if cl.lay.sharded() {
		cl.startShards(ctx)
	} else {
		cl.ps = cl.rdb.Subscribe(ctx, chBroadcast, chControl)
		cl.msgs = cl.ps.ChannelWithSubscriptions(redis.WithChannelSize(4096))
	}
	cl.checkUp(ctx)
	cl.wg.Add(3 + senders)
	go cl.receive()
	go cl.run()
	go cl.publisher()
	for range senders {
		go cl.sender()
	}
}

// Close stops the goroutines, takes the node out of the cluster and
// closes the Redis connections.
func (cl *Cluster) Close() {
	select {
	case <-cl.stop:
		return
	default:
	}
	close(cl.stop)
	cl.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), redisWait)
	defer cancel()
	if cl.up.Load() {
		_, _ = cl.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.ZRem(ctx, cl.lay.nodesKey(), cl.node)
			p.Del(ctx, cl.lay.statsKey(cl.node))
			return nil
		})
	}
	cl.closeShards()
	if cl.ps != nil {
		_ = cl.ps.Close()
	}
	_ = cl.rdb.Close()
}

// logDue reports, to one caller every 10 s, that it may log.
func (cl *Cluster) logDue() bool {
	now, last := time.Now().UnixNano(), cl.lastLog.Load()
	return now-last >= int64(10*time.Second) && cl.lastLog.CompareAndSwap(last, now)
}

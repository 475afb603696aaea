package server

import (
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/wspush/wspush/server/internal/api"
	"github.com/wspush/wspush/server/internal/auth"
	"github.com/wspush/wspush/server/internal/budget"
	"github.com/wspush/wspush/server/internal/cluster"
	"github.com/wspush/wspush/server/internal/console"
	"github.com/wspush/wspush/server/internal/engine"
	"github.com/wspush/wspush/server/internal/receipt"
	"github.com/wspush/wspush/server/internal/webhook"
)

// Defaults for the zero values of Config. Each is the part's own: the
// engine's for the connections, the API's, the history's.
const (
	DefaultAddr             = engine.DefaultAddr
	DefaultMaxMessage       = engine.DefaultMaxMessage
	DefaultHandshakeTimeout = engine.DefaultHandshakeTimeout
	DefaultPingInterval     = engine.DefaultPingInterval
	DefaultIdleTimeout      = engine.DefaultIdleTimeout
	DefaultCloseTimeout     = engine.DefaultCloseTimeout
	DefaultMaxPending       = engine.DefaultMaxPending
	DefaultSendBuffer       = engine.DefaultSendBuffer
	DefaultMaxRate          = engine.DefaultMaxRate
	DefaultMaxQueue         = engine.DefaultMaxQueue
	DefaultMaxUserConns     = engine.DefaultMaxUserConns
	// DefaultCompressionThreshold is the smallest payload compressed.
	DefaultCompressionThreshold = engine.DefaultCompressionThreshold
	// DefaultAPIReadTimeout bounds reading one API request, head and body.
	DefaultAPIReadTimeout = api.DefaultReadTimeout
	// DefaultAPIBatchMessages and DefaultAPIBatchBytes cap one batch of
	// pushes (POST /v1/push/batch).
	DefaultAPIBatchMessages = api.DefaultBatchMessages
	DefaultAPIBatchBytes    = api.DefaultBatchBytes
	// DefaultMaxReceipts caps the pending delivery receipts.
	DefaultMaxReceipts = receipt.DefaultMax
	// DefaultReceiptMaxTimeout is the longest receipt timeout a push
	// may ask for.
	DefaultReceiptMaxTimeout = 10 * time.Minute
	// DefaultHistoryMaxBytes caps a single node's history.
	DefaultHistoryMaxBytes = 256 << 20
	// MaxHeaderBytes caps an upgrade request's head; past it the answer is 431.
	MaxHeaderBytes = engine.MaxHeaderBytes
	// MinJWTSecret is the shortest JWTSecret accepted, in bytes (RFC 7518 3.2).
	MinJWTSecret = auth.MinSecret
)

// Path is the WebSocket endpoint.
const Path = engine.Path

// ConnConfig configures the WebSocket side of a server: its listener, the
// connections' limits and timeouts, compression and the client protocol's
// rules. Every field documents what zero means (server/internal/engine,
// Config). Auth, AcceptCap and Backlog are set by New from the rest of
// Config and the descriptor budget.
type ConnConfig = engine.Config

// Config configures a Server. The zero value works: every field documents
// what zero means. The connections' settings are ConnConfig's, promoted:
// cfg.MaxMessage, cfg.Addr.
type Config struct {
	ConnConfig

	// APIAddr is the HTTP API listener (host:port) for the backend: pushes,
	// rooms, presence, /metrics and /healthz. Empty means no API.
	APIAddr string
	// APIKey is the bearer key the HTTP API requires. Empty means none,
	// which Validate allows only on a loopback APIAddr.
	APIKey string
	// APIMaxConns caps the HTTP API's open connections; past it the oldest
	// idle keep-alive connection is closed, or, if none is idle, the new
	// one is answered 503. Zero derives it from the open-files limit
	// (package budget).
	APIMaxConns int
	// APIReadTimeout bounds reading one API request, head and body: a body
	// trickled or promised by Content-Length and never sent is cut off by
	// then. Zero means DefaultAPIReadTimeout.
	APIReadTimeout time.Duration
	// APIBatchMessages caps the messages of one POST /v1/push/batch; past
	// it the call is refused with 413. Zero means DefaultAPIBatchMessages.
	APIBatchMessages int
	// APIBatchBytes caps the body of one POST /v1/push/batch; past it the
	// call is refused with 413. Zero means DefaultAPIBatchBytes.
	APIBatchBytes int
	// MaxReceipts caps the delivery receipts pending at once (one per
	// user of each push that asked for one; in a cluster, the whole
	// cluster's); a push past it is refused with 503 receipts_full, and
	// nothing is sent. Zero means DefaultMaxReceipts.
	MaxReceipts int
	// ReceiptMaxTimeout is the longest timeout a push's receipt may ask
	// for; a longer one is refused with 400. Zero means
	// DefaultReceiptMaxTimeout.
	ReceiptMaxTimeout time.Duration
	// Demo, when set, is served at /demo/ on the API listener: a browser
	// page to try the server with (main passes client.Demo in development
	// mode). Nil serves nothing there.
	Demo fs.FS

	// JWTSecret is the HS256 secret of connection tokens, at least
	// MinJWTSecret bytes. When set, every connection needs a valid token
	// whose sub is the user id; when empty the server runs in development
	// mode and trusts ?user=.
	JWTSecret string
	// JWTAudience, when set, must be one of a token's aud values.
	JWTAudience string
	// JWTIssuer, when set, must be a token's iss.
	JWTIssuer string
	// JWTRequireExp refuses tokens without an exp claim. False lets a
	// token without one stay valid for as long as the connection lasts.
	JWTRequireExp bool
	// Insecure allows development mode (no JWTSecret: clients name their
	// user with ?user=) on a listener other hosts can reach. False refuses
	// to start that way.
	Insecure bool

	// Console configures the operator console at /console/ on the API
	// listener (docs/console.md). The zero value serves it, logging in
	// with APIKey (development mode without one).
	Console ConsoleConfig

	// Webhook sends client events to the backend (docs/webhook.md). The
	// zero value sends none.
	Webhook WebhookConfig
	// ConnectHook, an http(s) URL, is asked about every connection before
	// its welcome, signed with Webhook.Secret: it names the user, its
	// rooms and its welcome's meta, or refuses it (docs/webhook.md,
	// "Connect hook"). Its bounds are ConnConfig's Admit fields. Empty
	// means none: the token decides alone.
	ConnectHook string

	// HistorySize is how many messages are kept per stream (each user's
	// and each room's) for clients that reconnect and resume
	// (docs/protocol.md#recovery). Zero, or a zero HistoryTTL, keeps none:
	// pushes then carry no position.
	HistorySize int
	// HistoryTTL is how long a kept message stays. Zero keeps none.
	HistoryTTL time.Duration
	// HistoryMaxBytes caps the memory of a single node's history (frames
	// and their overhead, counted per stream that keeps them); past it the
	// oldest messages of all streams go first, counted. Zero means
	// DefaultHistoryMaxBytes. In a cluster the history is in Redis: cap it
	// with Redis's maxmemory.
	HistoryMaxBytes int64
	// OfflineGrace is how long a user still counts as online (presence,
	// GET /v1/users/{user}) after its last connection closed, so that a
	// quick reconnect does not flap. Zero means none.
	OfflineGrace time.Duration

	// Redis, a redis://host:port/db URL (or
	// redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER_NAME for a primary
	// behind Sentinels, redis+cluster://HOST:PORT[,HOST:PORT...] for a
	// Redis Cluster), makes the server a node of the cluster that
	// shares that Redis: pushes, presence, stats and history go through it
	// (docs/cluster.md). Empty means a single node.
	Redis string
	// RedisPassword and RedisSentinelPassword are the passwords of the
	// Redis primary and of the Sentinels, when they are not in the URL.
	// Neither is ever logged or printed.
	RedisPassword         string
	RedisSentinelPassword string
	// RedisReplicas, when above zero, makes every push of the API wait
	// until that many replicas have it (WAIT) before it is answered 200,
	// so that it survives a failover of the primary; fewer within the
	// API's deadline is a 503 (docs/cluster.md).
	RedisReplicas int
	// ClusterSecret signs and checks the control messages nodes send each
	// other through Redis (HMAC-SHA256); every node needs the same. Empty
	// means whoever can publish to Redis can kick users and change rooms.
	ClusterSecret string
	// Node names this node in the cluster. Empty means the hostname and a
	// random suffix.
	Node string

	// Version is the program's version, exported as wspush_build_info's
	// version label. Empty means "dev".
	Version string

	// clock, when set, replaces time.Now for the offline grace: tests
	// move it by hand.
	clock func() time.Time
}

// withDefaults returns c with every zero field set to its default: the
// engine's fields by the engine, the connection cap from the descriptor
// budget.
func (c Config) withDefaults() Config {
	if c.MaxConns <= 0 {
		c.MaxConns = c.DerivedMaxConns()
	}
	c.ConnConfig = c.ConnConfig.WithDefaults()
	if c.APIReadTimeout <= 0 {
		c.APIReadTimeout = DefaultAPIReadTimeout
	}
	if c.APIBatchMessages <= 0 {
		c.APIBatchMessages = DefaultAPIBatchMessages
	}
	if c.APIBatchBytes <= 0 {
		c.APIBatchBytes = DefaultAPIBatchBytes
	}
	if c.HistoryMaxBytes <= 0 {
		c.HistoryMaxBytes = DefaultHistoryMaxBytes
	}
	if c.MaxReceipts <= 0 {
		c.MaxReceipts = DefaultMaxReceipts
	}
	if c.ReceiptMaxTimeout <= 0 {
		c.ReceiptMaxTimeout = DefaultReceiptMaxTimeout
	}
	return c
}

// DerivedMaxConns is the connection cap New derives for c when
// c.MaxConns is zero: the open-files limit less a reserve, within the
// WebSocket share of the descriptor budget (package budget) that c's API,
// webhook and Redis leave. It builds nothing, so --check-config can print
// it without starting a server.
func (c Config) DerivedMaxConns() int {
	c.ConnConfig = c.ConnConfig.WithDefaults() // the loops, which hold descriptors
	return c.budget(budget.OpenFilesLimit()).MaxConns()
}

// budget splits the open-files limit for c (package budget).
func (c Config) budget(limit int) budget.Budget {
	p := budget.Parts{Loops: c.Loops, API: c.APIAddr != "", APIMaxConns: c.APIMaxConns}
	if c.Webhook.URL != "" {
		p.Webhook = webhook.Conns
	}
	if c.ConnectHook != "" {
		p.Webhook += webhook.HookConns + 1 // and a DNS lookup
	}
	if c.Redis != "" {
		if t, err := cluster.ParseRedis(c.Redis, c.redisPasswords()); err == nil {
			p.Redis = t.PoolSize()
		}
	}
	return budget.Split(limit, p)
}

// redisPasswords are the Redis passwords c gives apart from its URL.
func (c Config) redisPasswords() cluster.Passwords {
	return cluster.Passwords{Redis: c.RedisPassword, Sentinel: c.RedisSentinelPassword}
}

// DefaultMaxConns derives the connection cap from the process's open-files
// limit (RLIMIT_NOFILE): the limit minus a reserve for listeners, event
// loops, API clients and handshakes still in progress.
func DefaultMaxConns() int { return budget.DefaultMaxConns() }

// listenAddr is the WebSocket listener c asks for, its default when empty.
func (c Config) listenAddr() string {
	if c.Addr == "" {
		return DefaultAddr
	}
	return c.Addr
}

// AuthMode says how connections are identified: "jwt", "development"
// (?user=) or "echo".
func (c Config) AuthMode() string { return auth.Mode(c.Echo, c.JWTSecret) }

// Validate reports every reason the server must refuse to start with c,
// at once: each part checks its own fields.
func (c Config) Validate() error {
	addr := c.listenAddr()
	errs := []error{
		c.ConnConfig.Validate(),
		auth.Check(c.AuthMode(), addr, c.Insecure, c.JWTSecret),
		c.Webhook.Validate(),
		webhook.ValidateHook(c.ConnectHook),
	}
	if c.APIAddr != "" && c.APIKey == "" && !auth.Loopback(c.APIAddr) {
		errs = append(errs, fmt.Errorf("server: the API on %s is reachable from other hosts: set an API key (--api-key) or listen on a loopback address", c.APIAddr))
	}
	if c.APIMaxConns < 0 || c.APIReadTimeout < 0 || c.HistorySize < 0 || c.HistoryTTL < 0 || c.HistoryMaxBytes < 0 || c.OfflineGrace < 0 ||
		c.MaxReceipts < 0 || c.ReceiptMaxTimeout < 0 {
		errs = append(errs, errors.New("server: limits cannot be negative"))
	}
	if c.Redis != "" {
		if _, err := cluster.ParseRedis(c.Redis, c.redisPasswords()); err != nil {
			errs = append(errs, err)
		}
	} else if c.RedisPassword != "" || c.RedisSentinelPassword != "" || c.RedisReplicas != 0 {
		errs = append(errs, errors.New("server: --redis-password, --redis-sentinel-password and --redis-replicas need --redis"))
	}
	if c.RedisReplicas < 0 {
		errs = append(errs, errors.New("server: --redis-replicas cannot be negative"))
	}
	if c.Console.UsersFile != "" && !c.Console.Off {
		if _, err := console.ReadUsers(c.Console.UsersFile); err != nil {
			errs = append(errs, err)
		}
	}
	if b := c.budget(budget.OpenFilesLimit()); b.WS < 16 {
		errs = append(errs, fmt.Errorf("server: the open-files limit %d leaves %d descriptors for WebSocket connections after the API (%d), webhook, Redis and accept bursts (%d): raise it (ulimit -n, LimitNOFILE) or lower --api-max-conns",
			b.Limit, b.WS, b.API, b.Burst))
	}
	return errors.Join(errs...)
}

// TrustWarnings are what an operator should know about c's trust, one
// sentence each, with secrets redacted: development mode, an unsigned
// webhook, a Redis without a password. serve logs them at start and
// --check-config prints them.
func (c Config) TrustWarnings() []string {
	addr := c.listenAddr()
	var ws []string
	if w := auth.Warning(c.AuthMode(), addr); w != "" {
		ws = append(ws, w)
	}
	ws = append(ws, c.Webhook.Warnings()...)
	if c.ConnectHook != "" && c.Webhook.Secret == "" {
		ws = append(ws, "the connect hook "+auth.RedactURL(c.ConnectHook)+" gets unsigned requests: anyone who can reach it can ask it who a connection is; set --webhook-secret")
	}
	if c.Redis != "" {
		ws = append(ws, cluster.Warnings(c.Redis, c.redisPasswords(), c.ClusterSecret)...)
	}
	return ws
}

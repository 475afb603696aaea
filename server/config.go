package server

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/wspush/wspush/server/internal/cluster"
	"github.com/wspush/wspush/server/internal/engine"
)

// Defaults for the zero values of Config.
const (
	DefaultAddr             = engine.DefaultAddr
	DefaultMaxMessage       = engine.DefaultMaxMessage
	DefaultHandshakeTimeout = engine.DefaultHandshakeTimeout
	DefaultPingInterval     = engine.DefaultPingInterval
	DefaultIdleTimeout      = engine.DefaultIdleTimeout
	DefaultCloseTimeout     = engine.DefaultCloseTimeout
	DefaultMaxPending       = engine.DefaultMaxPending
	DefaultMaxRate          = engine.DefaultMaxRate
	DefaultMaxQueue         = engine.DefaultMaxQueue
	// DefaultCompressionThreshold is the smallest payload compressed.
	DefaultCompressionThreshold = engine.DefaultCompressionThreshold
	// DefaultHistoryMaxBytes caps a single node's history.
	DefaultHistoryMaxBytes = 256 << 20
	// MaxHeaderBytes caps an upgrade request's head; past it the answer is 431.
	MaxHeaderBytes = engine.MaxHeaderBytes
)

// Path is the WebSocket endpoint.
const Path = engine.Path

// Config configures a Server. The zero value works: every field documents
// what zero means.
type Config struct {
	// Addr is the WebSocket listener, host:port. Empty means ":8080".
	// Port 0 picks a free port; Server.Addr reports it.
	Addr string
	// APIAddr is the HTTP API listener (host:port) for the backend: pushes,
	// rooms, presence, /metrics and /healthz. Empty means no API.
	APIAddr string
	// APIKey is the bearer key the HTTP API requires. Empty means none,
	// which Validate allows only on a loopback APIAddr.
	APIKey string
	// Echo sends every data message back verbatim, as one message of the
	// same type, instead of running the client protocol.
	Echo bool
	// MaxConns caps upgraded connections; past it the upgrade answers 503.
	// Zero derives it from the open-files limit with headroom, so that
	// accept never meets EMFILE (which would stop the whole engine).
	MaxConns int
	// MaxMessage caps one inbound message in bytes; larger closes with 1009.
	// Zero means 64 KiB.
	MaxMessage int
	// HandshakeTimeout closes connections that have not finished their
	// upgrade by then. Zero means 5s.
	HandshakeTimeout time.Duration
	// PingInterval is how long a connection may stay silent before it is
	// pinged. Zero means 25s.
	PingInterval time.Duration
	// IdleTimeout closes a connection that sent no frame at all for this
	// long. Zero means 60s.
	IdleTimeout time.Duration
	// CloseTimeout is how long a server-initiated close waits for the
	// peer's close frame before it drops the TCP connection. Zero means 3s.
	CloseTimeout time.Duration
	// MaxPending caps the outbound bytes queued for one connection; a peer
	// that stops reading is closed once its queue passes it. Zero means 1 MiB.
	MaxPending int
	// SendBuffer sets each connection's kernel send buffer (SO_SNDBUF) in
	// bytes. Zero means 128 KiB; negative leaves the kernel's autotuning
	// (up to net.ipv4.tcp_wmem's maximum, 4 MiB by default, per socket).
	SendBuffer int
	// Loops is the number of event loops. Zero means runtime.GOMAXPROCS(0):
	// one per CPU the process may use.
	Loops int
	// JWTSecret is the HS256 secret of connection tokens. When set, every
	// connection needs a valid token whose sub is the user id; when empty
	// the server runs in development mode and trusts ?user=.
	JWTSecret string
	// Origins are the Origin patterns (path.Match syntax, against the whole
	// origin or its host) allowed for browser clients. Empty allows any;
	// clients that send no Origin, as mini-programs, always pass.
	Origins []string
	// MaxRate caps the messages one client may send per second, with a
	// burst of twice as many; past it the client is disconnected. Zero
	// means 20; a negative value means no cap.
	MaxRate int
	// MaxData caps the data of one publish or send request, in bytes; larger
	// ones get an error reply. Zero means half of MaxMessage.
	MaxData int
	// Demo, when set, is served at /demo/ on the API listener: a browser
	// page to try the server with (main passes client.Demo in development
	// mode). Nil serves nothing there.
	Demo fs.FS
	// DrainSpread spreads the reconnects after a shutdown: each client's
	// going_away disconnect carries a retry_after drawn at random below it,
	// which the client waits before reconnecting. Zero sends none.
	DrainSpread time.Duration
	// MaxUserConns caps one user's connections on this node; a new one past
	// it closes the user's oldest with the replaced disconnect (4504).
	// Zero means 32; negative, no cap.
	MaxUserConns int
	// ClientSends says what becomes of a client's send to another user:
	// "on" (delivered, as the token's send and send_to claims allow),
	// "off" (refused) or "webhook" (acknowledged and given to the webhook
	// only, for the backend to decide). Empty means "on".
	ClientSends string
	// MaxQueue caps the fan-out jobs waiting in one event loop's queue;
	// past it the API answers 503 busy (docs/api.md), a client's publish
	// gets a busy error, a message from the cluster is dropped; each is
	// counted. Zero means 65536.
	MaxQueue int
	// Webhook sends client events to the backend (docs/webhook.md). The
	// zero value sends none.
	Webhook WebhookConfig
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
	// Redis, a redis://host:port/db URL, makes the server a node of the
	// cluster that shares that Redis: pushes, presence, stats and history
	// go through it (docs/cluster.md). Empty means a single node.
	Redis string
	// ClusterSecret signs and checks the control messages nodes send each
	// other through Redis (HMAC-SHA256); every node needs the same. Empty
	// means whoever can publish to Redis can kick users and change rooms.
	ClusterSecret string
	// Node names this node in the cluster. Empty means the hostname and a
	// random suffix.
	Node string
	// NoCompression turns permessage-deflate (RFC 7692) off: it is not
	// offered, and no message goes compressed. Zero negotiates it with
	// every client that offers it (deflate.go).
	NoCompression bool
	// CompressionThreshold is the smallest message payload, in bytes,
	// sent compressed to clients that negotiated permessage-deflate;
	// smaller ones go plain. Zero means 128.
	CompressionThreshold int
	// Logger receives server logs. Nil discards them.
	Logger *slog.Logger

	// Trust boundaries (trust.go, docs/security.md).

	// Insecure allows development mode (no JWTSecret: clients name their
	// user with ?user=) on a listener other hosts can reach. False refuses
	// to start that way.
	Insecure bool
	// JWTAudience, when set, must be one of a token's aud values.
	JWTAudience string
	// JWTIssuer, when set, must be a token's iss.
	JWTIssuer string
	// JWTRequireExp refuses tokens without an exp claim. False lets a
	// token without one stay valid for as long as the connection lasts.
	JWTRequireExp bool
	// TrustedProxies are the peers whose X-Forwarded-For and X-Real-IP
	// name the client's address. Nil means loopback only (a proxy on the
	// same host); an empty non-nil list trusts no one.
	TrustedProxies []netip.Prefix
	// APIMaxConns caps the HTTP API's open connections; past it the oldest
	// idle keep-alive connection is closed, or, if none is idle, the new
	// one is answered 503. Zero derives it from the open-files limit
	// (fdbudget.go).
	APIMaxConns int
	// APIReadTimeout bounds reading one API request, head and body: a body
	// trickled or promised by Content-Length and never sent is cut off by
	// then. Zero means 30s.
	APIReadTimeout time.Duration

	// clock, when set, replaces time.Now for the offline grace: tests
	// move it by hand.
	clock func() time.Time
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.MaxConns <= 0 {
		c.MaxConns = c.defaultMaxConns()
	}
	e := c.engine().WithDefaults()
	c.Addr, c.MaxConns, c.MaxMessage, c.HandshakeTimeout = e.Addr, e.MaxConns, e.MaxMessage, e.HandshakeTimeout
	c.PingInterval, c.IdleTimeout, c.CloseTimeout, c.MaxPending = e.PingInterval, e.IdleTimeout, e.CloseTimeout, e.MaxPending
	c.Loops, c.MaxRate, c.MaxData, c.MaxQueue, c.Logger = e.Loops, e.MaxRate, e.MaxData, e.MaxQueue, e.Logger
	c.CompressionThreshold = e.CompressionThreshold
	if c.HistoryMaxBytes <= 0 {
		c.HistoryMaxBytes = DefaultHistoryMaxBytes
	}
	return c
}

// engine is the part of c the engine takes.
func (c Config) engine() engine.Config {
	return engine.Config{
		Addr: c.Addr, Echo: c.Echo, MaxConns: c.MaxConns, MaxMessage: c.MaxMessage,
		HandshakeTimeout: c.HandshakeTimeout, PingInterval: c.PingInterval, IdleTimeout: c.IdleTimeout,
		CloseTimeout: c.CloseTimeout, MaxPending: c.MaxPending, SendBuffer: c.SendBuffer, Loops: c.Loops,
		Origins: c.Origins, MaxRate: c.MaxRate, MaxData: c.MaxData, DrainSpread: c.DrainSpread,
		MaxQueue: c.MaxQueue, Logger: c.Logger, TrustedProxies: c.TrustedProxies,
		MaxUserConns: c.MaxUserConns, ClientSends: c.ClientSends,
		NoCompression: c.NoCompression, CompressionThreshold: c.CompressionThreshold,
	}
}

// DefaultMaxConns derives the connection cap from the process's open-files
// limit (RLIMIT_NOFILE): the limit minus a reserve for listeners, event
// loops, API clients and handshakes still in progress.
func DefaultMaxConns() int { return engine.DefaultMaxConns() }

// openFilesLimit is the process's RLIMIT_NOFILE.
func openFilesLimit() int { return engine.OpenFilesLimit() }

// Validate reports a configuration the server must refuse to start with.
func (c Config) Validate() error {
	if c.APIAddr != "" && c.APIKey == "" && !loopback(c.APIAddr) {
		return fmt.Errorf("server: the API on %s is reachable from other hosts: set an API key (--api-key) or listen on a loopback address", c.APIAddr)
	}
	if c.MaxMessage < 0 || c.MaxPending < 0 || c.MaxConns < 0 || c.HistorySize < 0 || c.HistoryTTL < 0 || c.OfflineGrace < 0 {
		return errors.New("server: limits cannot be negative")
	}
	if c.Redis != "" {
		if _, err := cluster.RedisOptions(c.Redis); err != nil {
			return err
		}
	}
	switch c.ClientSends {
	case "", engine.SendsOn, engine.SendsOff, engine.SendsWebhook:
	default:
		return fmt.Errorf("server: --client-sends %q: want on, off or webhook", c.ClientSends)
	}
	if err := c.validateTrust(); err != nil {
		return err
	}
	return c.Webhook.Validate()
}

// loopback reports whether addr (host:port) listens on loopback only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

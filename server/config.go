package server

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"runtime"
	"syscall"
	"time"
)

// Defaults for the zero values of Config.
const (
	DefaultAddr             = ":8080"
	DefaultMaxMessage       = 64 << 10
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultPingInterval     = 25 * time.Second
	DefaultIdleTimeout      = 60 * time.Second
	DefaultCloseTimeout     = 3 * time.Second
	DefaultMaxPending       = 1 << 20
	DefaultMaxRate          = 20
	// MaxHeaderBytes caps an upgrade request's head; past it the answer is 431.
	MaxHeaderBytes = 8 << 10
)

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
	// bytes. Zero leaves the kernel's autotuning, which lets one socket
	// absorb up to net.ipv4.tcp_wmem's maximum (4 MiB by default) before
	// MaxPending sees anything; a fixed size bounds the kernel memory of
	// a million sockets and makes slow readers visible sooner.
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
	// Webhook sends client events to the backend (webhook.go). The zero
	// value sends none.
	Webhook WebhookConfig
	// HistorySize is how many messages are kept per stream (each user's
	// and each room's) for clients that reconnect and resume
	// (docs/protocol.md#recovery). Zero, or a zero HistoryTTL, keeps none:
	// pushes then carry no position.
	HistorySize int
	// HistoryTTL is how long a kept message stays. Zero keeps none.
	HistoryTTL time.Duration
	// OfflineGrace is how long a user still counts as online (presence,
	// GET /v1/users/{user}) after its last connection closed, so that a
	// quick reconnect does not flap. Zero means none.
	OfflineGrace time.Duration
	// Redis, a redis://host:port/db URL, makes the server a node of the
	// cluster that shares that Redis: pushes, presence, stats and history
	// go through it (docs/cluster.md). Empty means a single node.
	Redis string
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
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns()
	}
	if c.MaxMessage <= 0 {
		c.MaxMessage = DefaultMaxMessage
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.Loops <= 0 {
		c.Loops = runtime.GOMAXPROCS(0)
	}
	if c.MaxRate == 0 {
		c.MaxRate = DefaultMaxRate
	}
	if c.MaxData <= 0 {
		c.MaxData = c.MaxMessage / 2
	}
	if c.CompressionThreshold <= 0 {
		c.CompressionThreshold = DefaultCompressionThreshold
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// fdReserve is the number of descriptors kept out of the connection budget
// for everything that is not a WebSocket: listeners, the epoll and event
// fds of each loop, API clients, Redis, logs.
func fdReserve(limit int) int {
	return max(limit/50, 128)
}

// DefaultMaxConns derives the connection cap from the process's open-files
// limit (RLIMIT_NOFILE): the limit minus a reserve for listeners, event
// loops, API clients and handshakes still in progress.
func DefaultMaxConns() int {
	limit := openFilesLimit()
	return max(limit-2*fdReserve(limit), 1)
}

func openFilesLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 1 << 20
	}
	return int(rl.Cur)
}

// Validate reports a configuration the server must refuse to start with.
func (c Config) Validate() error {
	if c.APIAddr != "" && c.APIKey == "" && !loopback(c.APIAddr) {
		return fmt.Errorf("server: the API on %s is reachable from other hosts: set an API key (--api-key) or listen on a loopback address", c.APIAddr)
	}
	if c.MaxMessage < 0 || c.MaxPending < 0 || c.MaxConns < 0 || c.HistorySize < 0 || c.HistoryTTL < 0 || c.OfflineGrace < 0 {
		return errors.New("server: limits cannot be negative")
	}
	if c.Redis != "" {
		if _, err := redisOptions(c.Redis); err != nil {
			return err
		}
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

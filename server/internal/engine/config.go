package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"time"

	"github.com/wspush/wspush/server/internal/auth"
	"github.com/wspush/wspush/server/internal/budget"
)

// Defaults for the zero values of Config.
const (
	DefaultAddr             = "127.0.0.1:8080"
	DefaultMaxMessage       = 64 << 10
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultPingInterval     = 25 * time.Second
	DefaultIdleTimeout      = 60 * time.Second
	DefaultCloseTimeout     = 3 * time.Second
	DefaultMaxPending       = 1 << 20
	DefaultSendBuffer       = 128 << 10
	DefaultMaxRate          = 20
	DefaultMaxQueue         = 1 << 16
	DefaultMaxUserConns     = 32
	// MaxHeaderBytes caps an upgrade request's head; past it the answer is 431.
	MaxHeaderBytes = 8 << 10
)

// Config configures an Engine. The zero value works: every field documents
// what zero means.
type Config struct {
	// Addr is the WebSocket listener, host:port. Empty means
	// "127.0.0.1:8080": loopback, where development mode is safe.
	// Port 0 picks a free port; Server.Addr reports it.
	Addr string
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
	// bytes (the kernel doubles it for its bookkeeping). Zero means
	// DefaultSendBuffer; negative leaves the kernel's autotuning, which
	// lets one socket absorb up to net.ipv4.tcp_wmem's maximum (4 MiB by
	// default) before MaxPending, which counts the kernel's queue once
	// the socket is full, sees anything.
	SendBuffer int
	// Loops is the number of event loops. Zero means runtime.GOMAXPROCS(0):
	// one per CPU the process may use.
	Loops int
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
	// DrainSpread spreads the reconnects after a shutdown: each client's
	// going_away disconnect carries a retry_after drawn at random below it,
	// which the client waits before reconnecting. Zero sends none.
	DrainSpread time.Duration
	// NoCompression turns permessage-deflate (RFC 7692) off: it is not
	// offered, and no message goes compressed. False negotiates it with
	// every client that offers it (deflate.go).
	NoCompression bool
	// CompressionThreshold is the smallest message payload, in bytes,
	// sent compressed to clients that negotiated permessage-deflate;
	// smaller ones go plain. Zero means DefaultCompressionThreshold.
	CompressionThreshold int
	// MaxUserConns caps one user's connections on this engine; a new one
	// past it closes the user's oldest with the replaced disconnect
	// (4504). Zero means DefaultMaxUserConns; negative, no cap.
	MaxUserConns int
	// ClientSends says what becomes of a client's send to another user:
	// SendsOn (delivered, as the token allows), SendsOff (refused) or
	// SendsWebhook (acknowledged and given to the webhook only, for the
	// backend to decide). Empty means SendsOn.
	ClientSends string
	// MaxQueue caps the fan-out jobs waiting in one event loop's outbox.
	// Past it a job is refused: an API call answers 503, a client's
	// publish gets an error reply, a message from the cluster is dropped,
	// each counted. Zero means 65536.
	MaxQueue int
	// Auth decides who connections are. Nil means development mode.
	Auth *auth.Authenticator
	// TrustedProxies are the peers whose X-Forwarded-For and X-Real-IP
	// name the client's address. Nil means loopback only; an empty
	// non-nil list trusts no one.
	TrustedProxies []netip.Prefix
	// AcceptCap caps the TCP connections the engine holds, upgraded or
	// not: past it a new one is answered 503 and closed at once, so that
	// accept never meets EMFILE, which stops gnet's engine. Zero derives
	// it from MaxConns and the open-files limit.
	AcceptCap int
	// Backlog, when positive, is set as the listener's backlog: the most
	// connections the kernel queues before the loops count them, which
	// the descriptor budget reserves.
	Backlog int
	// ReleaseQuiet is how long no connection may open or close, after a
	// burst of them, before the engine collects the garbage the burst
	// left and returns free memory to the OS (release.go). Zero means
	// DefaultReleaseQuiet (1s); negative leaves it to the Go runtime.
	ReleaseQuiet time.Duration
	// Admit, when set, is the connect hook (--connect-hook): every
	// upgraded connection waits, off its loop, for its verdict before the
	// welcome (admit.go). Nil admits every connection the token allows.
	Admit Admitter
	// AdmitTimeout bounds the wait for one verdict; past it the connection
	// is told connect_unavailable (4006). Default DefaultAdmitTimeout.
	AdmitTimeout time.Duration
	// AdmitMaxPending bounds the connections waiting for a verdict at
	// once; past it new ones are told connect_unavailable at once.
	// Default DefaultAdmitMaxPending.
	AdmitMaxPending int
	// AdmitHeaders are the request headers the hook is told of.
	AdmitHeaders []string
	// AdmitFailOpen admits, as the token says, a connection whose verdict
	// did not come (hook down, slow or garbled) instead of refusing it.
	// A connection without a token is refused all the same.
	AdmitFailOpen bool
	// Logger receives server logs. Nil discards them.
	Logger *slog.Logger
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.MaxConns <= 0 {
		c.MaxConns = budget.DefaultMaxConns()
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
	if c.SendBuffer == 0 {
		c.SendBuffer = DefaultSendBuffer
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
	if c.MaxUserConns == 0 {
		c.MaxUserConns = DefaultMaxUserConns
	}
	if c.ClientSends == "" {
		c.ClientSends = SendsOn
	}
	if c.MaxQueue <= 0 {
		c.MaxQueue = DefaultMaxQueue
	}
	if c.Auth == nil {
		c.Auth = &auth.Authenticator{}
	}
	if c.ReleaseQuiet == 0 {
		c.ReleaseQuiet = DefaultReleaseQuiet
	}
	if c.AdmitTimeout <= 0 {
		c.AdmitTimeout = DefaultAdmitTimeout
	}
	if c.AdmitMaxPending <= 0 {
		c.AdmitMaxPending = DefaultAdmitMaxPending
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// What a client's send to another user does (Config.ClientSends).
const (
	SendsOn      = "on"
	SendsOff     = "off"
	SendsWebhook = "webhook"
)

// Validate reports every field of c the engine cannot run with.
func (c Config) Validate() error {
	var errs []error
	if c.MaxMessage < 0 || c.MaxPending < 0 || c.MaxConns < 0 || c.AdmitTimeout < 0 || c.AdmitMaxPending < 0 {
		errs = append(errs, errors.New("server: limits cannot be negative"))
	}
	switch c.ClientSends {
	case "", SendsOn, SendsOff, SendsWebhook:
	default:
		errs = append(errs, fmt.Errorf("server: --client-sends %q: want on, off or webhook", c.ClientSends))
	}
	return errors.Join(errs...)
}

package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wspush/wspush/server/internal/wire"
)

// Timeouts of the HTTP API's connections. Together with the connection
// cap they bound what a client that opens connections and then sends
// nothing, or a byte at a time, can hold.
const (
	// DefaultReadTimeout bounds reading one request, head and body.
	DefaultReadTimeout = 30 * time.Second
	// headerTimeout bounds reading a request's head.
	headerTimeout = 10 * time.Second
	// idleTimeout closes a keep-alive connection with no request.
	idleTimeout = 60 * time.Second
	// maxHeaderBytes caps a request's head.
	maxHeaderBytes = 16 << 10
)

// ServerConfig configures the API's listener.
type ServerConfig struct {
	// MaxConns caps the open connections; past it the oldest idle
	// keep-alive connection is closed, or, if none is idle, the new one
	// is answered 503. It must be positive: the descriptor budget
	// (package budget) derives it.
	MaxConns int
	// ReadTimeout bounds reading one request, head and body: a body
	// trickled or promised by Content-Length and never sent is cut off by
	// then. Zero means DefaultReadTimeout.
	ReadTimeout time.Duration
	// Logger receives failed accepts and net/http's complaints. Nil
	// discards them.
	Logger *slog.Logger
}

// Server is the HTTP API on its listener: net/http with full timeouts,
// behind a cap on open connections. Its methods are safe from any
// goroutine; a nil *Server has no connections.
type Server struct {
	http  *http.Server
	conns *conns
}

// NewServer returns the API's server on ln, not yet serving (Serve).
func NewServer(ln net.Listener, cfg ServerConfig) *Server {
	read := cfg.ReadTimeout
	if read <= 0 {
		read = DefaultReadTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &conns{Listener: ln, log: log, max: max(cfg.MaxConns, 1), open: map[net.Conn]*connState{}}
	return &Server{conns: c, http: &http.Server{
		ReadHeaderTimeout: min(headerTimeout, read),
		ReadTimeout:       read,
		// A call waits for the loops up to APITimeout, then writes.
		WriteTimeout:   read + APITimeout,
		IdleTimeout:    idleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		ConnState:      c.state,
		// net/http's own complaints (a panicking handler, a bad write)
		// go to the server's log, not to the standard logger.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}
}

// Serve serves h until Shutdown or Close; it returns nil then.
func (s *Server) Serve(h http.Handler) error {
	s.http.Handler = h
	if err := s.http.Serve(s.conns); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops taking calls and waits for those in flight, until ctx
// ends; then it closes what is left.
func (s *Server) Shutdown(ctx context.Context) {
	if err := s.http.Shutdown(ctx); err != nil {
		_ = s.http.Close()
	}
}

// Close closes the listener and every connection at once.
func (s *Server) Close() { _ = s.http.Close() }

// Conns is the number of open API connections.
func (s *Server) Conns() int {
	if s == nil {
		return 0
	}
	return s.conns.count()
}

// Refused is the number of connections answered 503 at the cap, ever.
func (s *Server) Refused() int64 {
	if s == nil {
		return 0
	}
	return s.conns.refused.Load()
}

// conns is the API's listener with a cap on open connections. At the
// cap, a new connection closes the oldest idle keep-alive connection to
// take its place; if none is idle, the new one is answered 503 and closed.
// A failing accept (EMFILE: out of descriptors) is counted, logged at most
// once a second and retried after a growing pause, so the API accepts
// again once descriptors free up.
type conns struct {
	net.Listener
	log *slog.Logger
	max int

	mu   sync.Mutex
	open map[net.Conn]*connState

	refused   atomic.Int64 // answered 503 at the cap, ever
	evicted   atomic.Int64 // idle connections closed for a new one, ever
	failed    atomic.Int64 // accepts that failed, ever
	lastLog   atomic.Int64 // unix nanoseconds of the last failed-accept log
	lastShown atomic.Int64
}

// connState is what the cap knows of one connection.
type connState struct {
	idle  bool
	since time.Time // when it went idle
}

// full is the answer at the cap.
var full = wire.AppendHTTPError(nil, http.StatusServiceUnavailable, "unavailable",
	"the API is at its connection limit (--api-max-conns)", "")

// Accept returns the next connection the cap admits.
func (c *conns) Accept() (net.Conn, error) {
	pause := 5 * time.Millisecond
	for {
		nc, err := c.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || !isTemporary(err) {
				return nil, err
			}
			c.acceptFailed(err)
			time.Sleep(pause)
			pause = min(2*pause, time.Second)
			continue
		}
		pause = 5 * time.Millisecond
		if c.admit(nc) {
			return nc, nil
		}
		c.refused.Add(1)
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = nc.Write(full)
		_ = nc.Close()
	}
}

// isTemporary reports an accept error worth retrying: out of descriptors
// or memory, or a connection that went away in the queue.
func isTemporary(err error) bool {
	type temporary interface{ Temporary() bool }
	var t temporary
	return errors.As(err, &t) && t.Temporary()
}

// acceptFailed counts a failed accept and logs it at most once a second.
func (c *conns) acceptFailed(err error) {
	n := c.failed.Add(1)
	now := time.Now().UnixNano()
	if last := c.lastLog.Load(); now-last >= int64(time.Second) && c.lastLog.CompareAndSwap(last, now) {
		c.log.Error("API: accept failed, retrying: out of descriptors? (docs/security.md)",
			"err", err, "failed_total", n, "since_last_log", n-c.lastShown.Swap(n))
	}
}

// admit makes room for nc if it can and records it.
func (c *conns) admit(nc net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.open) >= c.max {
		var oldest net.Conn
		var at time.Time
		for k, v := range c.open {
			if v.idle && (oldest == nil || v.since.Before(at)) {
				oldest, at = k, v.since
			}
		}
		if oldest == nil {
			return false
		}
		// net/http reports StateClosed when its goroutine sees the close;
		// the slot is free from now.
		delete(c.open, oldest)
		_ = oldest.Close()
		c.evicted.Add(1)
	}
	c.open[nc] = &connState{}
	return true
}

// state follows net/http's view of each connection: http.Server.ConnState.
func (c *conns) state(nc net.Conn, st http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch st {
	case http.StateClosed, http.StateHijacked:
		delete(c.open, nc)
	case http.StateIdle:
		if v := c.open[nc]; v != nil {
			v.idle, v.since = true, time.Now()
		}
	case http.StateActive:
		if v := c.open[nc]; v != nil {
			v.idle = false
		}
	}
}

// count is the number of open API connections.
func (c *conns) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.open)
}

var (
	descConns = prometheus.NewDesc("wspush_api_connections",
		"Open HTTP API connections, capped by --api-max-conns.", nil, nil)
	descConnsRefused = prometheus.NewDesc("wspush_api_connections_refused_total",
		"HTTP API connections answered 503 at --api-max-conns, or closed while idle to make room, by action.", []string{"action"}, nil)
	descConnsLimit = prometheus.NewDesc("wspush_api_connections_limit",
		"--api-max-conns: open API connections past which the oldest idle one is closed or a new one answered 503.", nil, nil)
	descAcceptErrors = prometheus.NewDesc("wspush_api_accept_errors_total",
		"Failed accepts on the HTTP API listener (EMFILE: out of descriptors), retried.", nil, nil)
)

// Collector returns the listener's metrics. A nil *Server exports none.
func (s *Server) Collector() prometheus.Collector { return serverCollector{s} }

type serverCollector struct{ s *Server }

// Describe implements prometheus.Collector.
func (c serverCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descConns
	ch <- descConnsRefused
	ch <- descAcceptErrors
	ch <- descConnsLimit
}

// Collect implements prometheus.Collector.
func (c serverCollector) Collect(ch chan<- prometheus.Metric) {
	if c.s == nil {
		return
	}
	k := c.s.conns
	ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, float64(k.count()))
	ch <- prometheus.MustNewConstMetric(descConnsRefused, prometheus.CounterValue, float64(k.refused.Load()), "refused")
	ch <- prometheus.MustNewConstMetric(descConnsRefused, prometheus.CounterValue, float64(k.evicted.Load()), "idle_closed")
	ch <- prometheus.MustNewConstMetric(descAcceptErrors, prometheus.CounterValue, float64(k.failed.Load()))
	ch <- prometheus.MustNewConstMetric(descConnsLimit, prometheus.GaugeValue, float64(k.max))
}

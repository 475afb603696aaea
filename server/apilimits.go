package server

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wspush/wspush/server/internal/wire"
)

// Timeouts of the HTTP API's connections. Together with the connection
// cap they bound what a client that opens connections and then sends
// nothing, or a byte at a time, can hold.
const (
	// DefaultAPIReadTimeout bounds reading one request, head and body.
	DefaultAPIReadTimeout = 30 * time.Second
	// apiHeaderTimeout bounds reading a request's head.
	apiHeaderTimeout = 10 * time.Second
	// apiIdleTimeout closes a keep-alive connection with no request.
	apiIdleTimeout = 60 * time.Second
	// apiMaxHeaderBytes caps a request's head.
	apiMaxHeaderBytes = 16 << 10
)

// apiServer is the http.Server of the API on ln: full timeouts, and ln
// wrapped in the connection cap.
func (s *Server) apiServer(ln net.Listener) (*http.Server, net.Listener) {
	read := s.cfg.APIReadTimeout
	if read <= 0 {
		read = DefaultAPIReadTimeout
	}
	c := &apiConns{s: s, Listener: ln, max: s.budget().api, open: map[net.Conn]*apiConn{}}
	s.apiConns = c
	return &http.Server{
		Handler:           s.APIHandler(),
		ReadHeaderTimeout: min(apiHeaderTimeout, read),
		ReadTimeout:       read,
		// A call waits for the loops up to APITimeout, then writes.
		WriteTimeout:   read + APITimeout,
		IdleTimeout:    apiIdleTimeout,
		MaxHeaderBytes: apiMaxHeaderBytes,
		ConnState:      c.state,
		// net/http's own complaints (a panicking handler, a bad write)
		// go to the server's log, not to the standard logger.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}, c
}

// apiConns is the API's listener with a cap on open connections. At the
// cap, a new connection closes the oldest idle keep-alive connection to
// take its place; if none is idle, the new one is answered 503 and closed.
// A failing accept (EMFILE: out of descriptors) is counted, logged at most
// once a second and retried after a growing pause, so the API accepts
// again once descriptors free up.
type apiConns struct {
	net.Listener
	s   *Server
	max int

	mu   sync.Mutex
	open map[net.Conn]*apiConn

	refused   atomic.Int64 // answered 503 at the cap, ever
	evicted   atomic.Int64 // idle connections closed for a new one, ever
	failed    atomic.Int64 // accepts that failed, ever
	lastLog   atomic.Int64 // unix nanoseconds of the last failed-accept log
	lastShown atomic.Int64
}

// apiConn is what the cap knows of one connection.
type apiConn struct {
	idle  bool
	since time.Time // when it went idle
}

// apiFull is the answer at the cap.
var apiFull = wire.AppendHTTPError(nil, http.StatusServiceUnavailable, "unavailable",
	"the API is at its connection limit (--api-max-conns)", "")

// Accept returns the next connection the cap admits.
func (c *apiConns) Accept() (net.Conn, error) {
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
		_, _ = nc.Write(apiFull)
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
func (c *apiConns) acceptFailed(err error) {
	n := c.failed.Add(1)
	now := time.Now().UnixNano()
	if last := c.lastLog.Load(); now-last >= int64(time.Second) && c.lastLog.CompareAndSwap(last, now) {
		c.s.log.Error("API: accept failed, retrying: out of descriptors? (docs/security.md)",
			"err", err, "failed_total", n, "since_last_log", n-c.lastShown.Swap(n))
	}
}

// admit makes room for nc if it can and records it.
func (c *apiConns) admit(nc net.Conn) bool {
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
	c.open[nc] = &apiConn{}
	return true
}

// state follows net/http's view of each connection: http.Server.ConnState.
func (c *apiConns) state(nc net.Conn, st http.ConnState) {
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
func (c *apiConns) count() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.open)
}

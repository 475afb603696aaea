package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
	"golang.org/x/sys/unix"

	"github.com/wspush/wspush/pool"
)

// Server is a WebSocket server on gnet event loops. Create it with New, run
// it with Serve and stop it with Shutdown.
type Server struct {
	gnet.BuiltinEventEngine

	cfg   Config
	log   *slog.Logger
	start time.Time

	eng     gnet.Engine
	ready   chan struct{} // closed once the listener is up
	addr    net.Addr
	api     *http.Server
	apiAddr net.Addr

	mu    sync.Mutex
	loops []*loop // one per event loop, created as each loop opens its first conn

	draining atomic.Bool
	conns    atomic.Int64 // upgraded connections
	tcp      atomic.Int64 // TCP connections with state, upgraded or not
	// acceptCap bounds tcp: past it a new connection is answered 503 and
	// closed at once. It stays below the open-files limit whatever
	// MaxConns says, so that accept never meets EMFILE.
	acceptCap int64
	upgrades  atomic.Int64                      // successful upgrades, ever
	rejects   [len(rejectStatuses)]atomic.Int64 // refused upgrades by status, ever
	closes    [numReasons]atomic.Int64
	anon      atomic.Int64 // anonymous users so far
	msgID     atomic.Uint64
	tickNow   atomic.Uint32 // ticksNow as of gnet's last OnTick, for the loops

	// Recovery and cluster (history*.go, cluster*.go).
	hist    *history // nil: no local history (off, or kept in Redis)
	clock   posClock
	cl      *cluster // nil: a single node
	grace   graceList
	gaps    atomic.Int64 // resumes answered with a gap, ever
	replays atomic.Int64 // messages replayed to resuming clients, ever
	held    atomic.Int64 // live messages held back from connections waiting to resume, ever

	pool   *pool.Pool
	events *webhook // client events to the backend; nil without a webhook

	// Descriptor budget (fdbudget.go, apilimits.go).
	apiConns  *apiConns // the API listener's cap; nil without an API
	refusedWS refusedAccepts
}

// New returns a Server for cfg, with defaults filled in.
func New(cfg Config) *Server {
	cfg = cfg.withDefaults()
	limit := openFilesLimit()
	s := &Server{
		acceptCap: int64(min(cfg.MaxConns+fdReserve(cfg.MaxConns), limit-fdReserve(limit)/2, max(cfg.budget(limit).ws, 1))),
		cfg:       cfg,
		log:       cfg.Logger,
		start:     time.Now(),
		ready:     make(chan struct{}),
		pool:      pool.New(pool.Config{Shards: cfg.Loops}),
	}
	s.grace.d = cfg.OfflineGrace
	if cfg.Redis != "" {
		s.cl = newCluster(s)
	} else if cfg.HistorySize > 0 && cfg.HistoryTTL > 0 {
		s.hist = newHistory(cfg.HistorySize, cfg.HistoryTTL, s.start, s.clock.next(s.start))
	}
	return s
}

// Config returns the configuration in force, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Serve listens on Config.Addr and runs the event loops until Shutdown. It
// returns nil after a shutdown.
func (s *Server) Serve() error {
	if err := s.cfg.Validate(); err != nil {
		return err
	}
	s.warnTrust()
	s.logBudget()
	if s.cl != nil {
		s.cl.start()
	}
	s.events = startWebhook(s, s.cfg.Webhook)
	if s.cfg.APIAddr != "" {
		ln, err := net.Listen("tcp", s.cfg.APIAddr)
		if err != nil {
			return fmt.Errorf("server: API listen on %s: %w", s.cfg.APIAddr, err)
		}
		s.apiAddr = ln.Addr()
		s.api, ln = s.apiServer(ln)
		go func() {
			if err := s.api.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("API server stopped", "err", err)
			}
		}()
	}
	err := gnet.Run(s, "tcp://"+s.cfg.Addr,
		gnet.WithNumEventLoop(s.cfg.Loops),
		gnet.WithTicker(true),
		gnet.WithReusePort(false),
		// A restart must be able to bind while old connections sit in TIME-WAIT.
		gnet.WithReuseAddr(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithSocketSendBuffer(s.cfg.SendBuffer),
		gnet.WithLogger(gnetLogger{s.log}),
		gnet.WithLogLevel(logging.WarnLevel),
	)
	if err != nil {
		s.events.close(context.Background())
		if s.api != nil {
			_ = s.api.Close()
		}
		if s.cl != nil {
			s.cl.close()
		}
		return fmt.Errorf("server: listen on %s: %w", s.cfg.Addr, err)
	}
	return nil
}

// APIAddr is the HTTP API listener's address, once Ready is closed; nil
// when the server has no API.
func (s *Server) APIAddr() net.Addr { return s.apiAddr }

// Ready is closed once the listener accepts connections.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the listener's address, once Ready is closed.
func (s *Server) Addr() net.Addr { return s.addr }

// Conns is the number of upgraded connections.
func (s *Server) Conns() int64 { return s.conns.Load() }

// Shutdown stops the server gracefully: new upgrades get 503, every
// connection is sent 1001 Going Away, and Shutdown waits until they have
// closed or ctx ends, then stops the event loops.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.draining.Swap(true) {
		return nil
	}
	for _, l := range s.loopList() {
		_ = l.el.Execute(ctx, gnet.RunnableFunc(func(context.Context) error {
			l.goAway()
			return nil
		}))
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for s.tcp.Load() > 0 {
		select {
		case <-ctx.Done():
			s.log.Warn("shutdown: connections left open", "count", s.tcp.Load())
			return s.stop()
		case <-t.C:
		}
	}
	return s.stop()
}

func (s *Server) stop() error {
	if s.cl != nil {
		s.cl.close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s.api != nil {
		if err := s.api.Shutdown(ctx); err != nil {
			_ = s.api.Close()
		}
	}
	if err := s.eng.Stop(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("server: stop: %w", err)
	}
	s.events.close(ctx)
	return nil
}

func (s *Server) loopList() []*loop {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*loop(nil), s.loops...)
}

// loopOf returns the state of event loop el, creating it on first use.
func (s *Server) loopOf(el gnet.EventLoop) *loop {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.loops {
		if l.el == el {
			return l
		}
	}
	l := newLoop(s, el, len(s.loops))
	s.loops = append(s.loops, l)
	return l
}

// OnBoot records the listener's address. It implements gnet.EventHandler.
func (s *Server) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	if fd, err := eng.Dup(); err == nil {
		if sa, err := unix.Getsockname(fd); err == nil {
			switch a := sa.(type) {
			case *unix.SockaddrInet4:
				s.addr = &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
			case *unix.SockaddrInet6:
				s.addr = &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
			}
		}
		s.limitBacklog(fd)
		_ = unix.Close(fd)
	}
	close(s.ready)
	return gnet.None
}

// OnOpen starts the handshake deadline of a new TCP connection. Past the
// descriptor budget it refuses the connection at once with a 503, so that
// accept never meets EMFILE. It implements gnet.EventHandler.
func (s *Server) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	l := s.loopOf(gc.EventLoop())
	l.clock()
	// gnet's own CountConnections would race with its load balancer.
	if s.draining.Load() || s.tcp.Load() >= s.acceptCap {
		s.rejected(http.StatusServiceUnavailable)
		s.closes[ReasonRejected].Add(1)
		if !s.draining.Load() {
			s.refusedWS.refused(s.log, s.tcp.Load(), s.acceptCap)
		}
		return appendHTTPError(nil, 503, "unavailable", "the server is at its connection limit", ""), gnet.Close
	}
	c := &conn{gc: gc, l: l, seen: l.now, fd: int32(gc.Fd())}
	gc.SetContext(c)
	s.tcp.Add(1)
	l.wheel.add(c, l.now+ticks(s.cfg.HandshakeTimeout))
	return nil, gnet.None
}

// OnTraffic reads what arrived for a connection. It implements
// gnet.EventHandler.
func (s *Server) OnTraffic(gc gnet.Conn) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		return gnet.Close
	}
	c.l.clock()
	return c.traffic()
}

// OnClose releases a connection's state. It implements gnet.EventHandler.
func (s *Server) OnClose(gc gnet.Conn, err error) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		return gnet.None
	}
	c.l.wheel.remove(c)
	c.r.Reset()
	c.leavePool()
	if c.state == stateOpen || c.state == stateClosing {
		s.conns.Add(-1)
	}
	if c.reason == ReasonNone {
		c.reason = ReasonPeerGone
	}
	c.state = stateClosed
	s.events.disconnect(c)
	s.tcp.Add(-1)
	s.closes[c.reason].Add(1)
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug("connection closed", "remote", gc.RemoteAddr().String(), "reason", c.reason.String(), "err", err)
	}
	return gnet.None
}

// OnTick asks every event loop to run its timing wheel. It runs on gnet's
// ticker goroutine, so it only hands work to the loops.
//
// A loop whose wheel has nothing due is left asleep: a server holding idle
// connections with no deadline near wakes no loop, and the Go runtime's
// sysmon, which polls at up to 50 kHz while loops keep leaving and
// re-entering epoll_wait, can sleep too (docs/design.md).
func (s *Server) OnTick() (time.Duration, gnet.Action) {
	now := s.ticksNow()
	s.tickNow.Store(now)
	for _, l := range s.loopList() {
		if l.wheel.next.Load() <= now {
			_ = l.el.Execute(context.Background(), l.tickf)
		}
	}
	return tick, gnet.None
}

// gnetLogger sends gnet's own logs to slog.
type gnetLogger struct{ log *slog.Logger }

func (g gnetLogger) Debugf(f string, a ...any) {
	g.log.Debug(fmt.Sprintf(f, a...), "component", "gnet")
}
func (g gnetLogger) Infof(f string, a ...any) { g.log.Debug(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Warnf(f string, a ...any) { g.log.Warn(fmt.Sprintf(f, a...), "component", "gnet") }
func (g gnetLogger) Errorf(f string, a ...any) {
	g.log.Error(fmt.Sprintf(f, a...), "component", "gnet")
}
func (g gnetLogger) Fatalf(f string, a ...any) {
	g.log.Error(fmt.Sprintf(f, a...), "component", "gnet")
}

// rejectStatuses are the HTTP statuses an upgrade can be refused with; the
// last entry counts any other.
var rejectStatuses = [...]int{400, 401, 403, 404, 405, 426, 431, 503, 505, 0}

// rejected counts a refused upgrade.
func (s *Server) rejected(status int) {
	for i, st := range rejectStatuses {
		if st == status || st == 0 {
			s.rejects[i].Add(1)
			return
		}
	}
}

package engine

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
	"github.com/wspush/wspush/server/internal/budget"
	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/roster"
	"github.com/wspush/wspush/server/internal/wire"
)

// Engine is the WebSocket side of the server: gnet's event handler, the
// event loops and every connection on them. Nothing outside the package
// touches a connection; the exported methods are the calls that are safe
// from any goroutine. Create it with New, run it with Run, stop it with
// Drain and Stop.
type Engine struct {
	gnet.BuiltinEventEngine

	cfg   Config
	log   *slog.Logger
	start time.Time
	hooks Hooks
	// roster is who is in which room here, by user, for the API's
	// reads (rooms.go).
	roster *roster.Roster
	store  history.Store // where resumes read; nil: no history

	eng   gnet.Engine
	ready chan struct{} // closed once the listener is up
	addr  net.Addr

	mu    sync.Mutex
	loops atomic.Pointer[[]*loop] // one per event loop, created as each loop opens its first conn: copied on write

	draining atomic.Bool
	conns    atomic.Int64 // upgraded connections
	tcp      atomic.Int64 // TCP connections with state, upgraded or not
	// acceptCap bounds tcp: past it a new connection is answered 503 and
	// closed at once. It stays below the open-files limit whatever
	// MaxConns says, so that accept never meets EMFILE.
	acceptCap  int64
	upgrades   atomic.Int64                      // successful upgrades, ever
	rejects    [len(RejectStatuses)]atomic.Int64 // refused upgrades by status, ever
	closes     [wire.NumReasons]atomic.Int64
	admit      admitStats // the connect hook (admit.go)
	msgID      atomic.Uint64
	tickNow    atomic.Uint32 // ticksNow as of gnet's last OnTick, for the loops
	refused    atomic.Int64  // fan-out jobs refused by a full outbox, ever
	refusedWS  refusedAccepts
	replaced   atomic.Int64 // connections closed for a newer one of a user at its cap, ever
	gaps       atomic.Int64 // resumes answered with a gap, ever
	lagDropped atomic.Int64 // frames dropped from lags at a disconnect or close, ever
	replays    atomic.Int64 // messages replayed to resuming clients, ever
	held       atomic.Int64 // live messages held back from connections waiting to resume, ever

	pool *pool.Pool
	rel  *releaser  // collects after a burst of connections (release.go)
	dir  *directory // the console's ordered index of connections and its ring of closes (directory.go)

	// waits are the channels fan waits on, emptied and reused: one per
	// API call otherwise (outbox.go).
	waits sync.Pool
}

// New returns an Engine for cfg, with defaults filled in. hooks tell the
// rest of the server what clients do (nil: nobody listens); store is
// where resumes read the history (nil: the server keeps none).
func New(cfg Config, hooks Hooks, store history.Store) *Engine {
	cfg = cfg.WithDefaults()
	limit := budget.OpenFilesLimit()
	if hooks == nil {
		hooks = nopHooks{}
	}
	acceptCap := min(cfg.MaxConns+budget.Reserve(cfg.MaxConns), limit-budget.Reserve(limit)/2)
	if cfg.AcceptCap > 0 {
		acceptCap = min(acceptCap, cfg.AcceptCap)
	}
	s := &Engine{
		acceptCap: int64(acceptCap),
		cfg:       cfg,
		log:       cfg.Logger,
		start:     time.Now(),
		hooks:     hooks,
		store:     store,
		ready:     make(chan struct{}),
		pool:      pool.New(pool.Config{Shards: cfg.Loops}),
		roster:    roster.New(),
		rel:       newReleaser(cfg.ReleaseQuiet),
	}
	s.dir = newDirectory(cfg.Loops, s.roster.Has)
	s.loops.Store(&[]*loop{})
	return s
}

// Config returns the configuration in force, defaults filled in.
func (s *Engine) Config() Config { return s.cfg }

// Run listens on Config.Addr and runs the event loops until Stop. It
// returns nil after a stop.
func (s *Engine) Run() error {
	err := gnet.Run(s, "tcp://"+s.cfg.Addr,
		gnet.WithNumEventLoop(s.cfg.Loops),
		gnet.WithTicker(true),
		gnet.WithReusePort(false),
		// A restart must be able to bind while old connections sit in TIME-WAIT.
		gnet.WithReuseAddr(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithSocketSendBuffer(max(s.cfg.SendBuffer, 0)),
		gnet.WithLogger(gnetLogger{s.log}),
		gnet.WithLogLevel(logging.WarnLevel),
	)
	if err != nil {
		return fmt.Errorf("server: listen on %s: %w", s.cfg.Addr, err)
	}
	return nil
}

// Ready is closed once the listener accepts connections.
func (s *Engine) Ready() <-chan struct{} { return s.ready }

// Addr is the listener's address, once Ready is closed.
func (s *Engine) Addr() net.Addr { return s.addr }

// Conns is the number of upgraded connections.
func (s *Engine) Conns() int64 { return s.conns.Load() }

// AcceptCap is the cap on TCP connections in force.
func (s *Engine) AcceptCap() int64 { return s.acceptCap }

// refusedAccepts counts the connections refused at the descriptor budget,
// and rate-limits their log.
type refusedAccepts struct {
	n, shown atomic.Int64
	last     atomic.Int64 // unix nanoseconds of the last log
}

// refused counts one connection refused at the accept cap and logs, at
// most once a second, how many were since the last log. Any goroutine may
// call it.
func (r *refusedAccepts) refused(log *slog.Logger, tcp, cap int64) {
	n := r.n.Add(1)
	now := time.Now().UnixNano()
	if last := r.last.Load(); now-last >= int64(time.Second) && r.last.CompareAndSwap(last, now) {
		log.Warn("connections refused at the descriptor budget (503): raise the open-files limit or add nodes (docs/security.md)",
			"tcp", tcp, "accept_cap", cap, "refused_total", n, "since_last_log", n-r.shown.Swap(n))
	}
}

// Draining reports whether Drain has begun.
func (s *Engine) Draining() bool { return s.draining.Load() }

// Drain closes every connection gracefully: new upgrades get 503, every
// connection is sent the going_away disconnect and 1001 Going Away, and
// Drain waits until they have closed or ctx ends. It does not stop the
// event loops: Stop does.
func (s *Engine) Drain(ctx context.Context) {
	if s.draining.Swap(true) {
		return
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
			return
		case <-t.C:
		}
	}
}

// Stop stops the event loops, waiting for them until ctx ends. Run
// returns after it.
func (s *Engine) Stop(ctx context.Context) error {
	s.draining.Store(true)
	<-s.ready
	err := s.eng.Stop(ctx)
	s.rel.wait()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("server: stop: %w", err)
	}
	return nil
}

// loopList returns the loops that exist. It takes no lock: the list is
// replaced, never modified, when a loop opens its first connection.
func (s *Engine) loopList() []*loop { return *s.loops.Load() }

// loopOf returns the state of event loop el, creating it on first use.
// It runs on el: a conn's loop is found through the conn afterwards.
func (s *Engine) loopOf(el gnet.EventLoop) *loop {
	for _, l := range s.loopList() {
		if l.el == el {
			return l
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.loops.Load()
	for _, l := range old {
		if l.el == el {
			return l
		}
	}
	l := newLoop(s, el, len(old))
	next := append(append(make([]*loop, 0, len(old)+1), old...), l)
	s.loops.Store(&next)
	return l
}

// OnBoot records the listener's address. It implements gnet.EventHandler.
func (s *Engine) OnBoot(eng gnet.Engine) gnet.Action {
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
		if s.cfg.Backlog > 0 {
			// On Linux, listen on a listening socket changes its
			// backlog; elsewhere it may fail, and gnet's stays.
			if err := unix.Listen(fd, s.cfg.Backlog); err != nil {
				s.log.Warn("could not set the listen backlog; a burst of connections may exhaust descriptors", "err", err)
			}
		}
		_ = unix.Close(fd)
	}
	close(s.ready)
	return gnet.None
}

// OnOpen starts the handshake deadline of a new TCP connection. Past the
// descriptor budget it refuses the connection at once with a 503, so that
// accept never meets EMFILE. It implements gnet.EventHandler.
func (s *Engine) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	l := s.loopOf(gc.EventLoop())
	l.clock()
	// gnet's own CountConnections would race with its load balancer.
	if s.draining.Load() || s.tcp.Load() >= s.acceptCap {
		s.rejected(http.StatusServiceUnavailable)
		s.closes[wire.ReasonRejected].Add(1)
		if !s.draining.Load() {
			s.refusedWS.refused(s.log, s.tcp.Load(), s.acceptCap)
		}
		return wire.AppendHTTPError(nil, 503, "unavailable", "the server is at its connection limit", ""), gnet.Close
	}
	c := &conn{gc: gc, l: l, seen: l.now}
	gc.SetContext(c)
	s.tcp.Add(1)
	l.wheel.add(c, l.now+ticks(s.cfg.HandshakeTimeout))
	return nil, gnet.None
}

// OnTraffic reads what arrived for a connection. It implements
// gnet.EventHandler.
func (s *Engine) OnTraffic(gc gnet.Conn) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		return gnet.Close
	}
	c.l.clock()
	return c.traffic()
}

// OnClose releases a connection's state. It implements gnet.EventHandler.
func (s *Engine) OnClose(gc gnet.Conn, err error) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		return gnet.None
	}
	c.l.wheel.remove(c)
	c.r.Reset()
	c.dropLag()
	c.leavePool()
	if c.sess != nil {
		c.sess.setResume(c.l, nil)
	}
	if c.state == stateOpen || c.state == stateClosing || c.state == stateAdmitting {
		s.conns.Add(-1)
	}
	if c.l.unadmit(c) {
		s.admit.verdicts[admitGone].Add(1)
	}
	if c.reason == wire.ReasonNone {
		c.reason = wire.ReasonPeerGone
	}
	c.state = stateClosed
	if c.sess != nil {
		s.dir.remove(c.sess, c.reason, time.Now())
		s.hooks.Disconnected(Conn{ID: c.sess.m.ID(), User: c.sess.m.User}, c.reason.String(), s.pool.UserConns(c.sess.m.User) == 0)
	}
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
func (s *Engine) OnTick() (time.Duration, gnet.Action) {
	now := s.ticksNow()
	s.tickNow.Store(now)
	s.rel.tick(time.Now(), s.churn(), s.conns.Load())
	for _, l := range s.loopList() {
		if l.wheel.next.Load() <= now || l.lagConns.Load() > 0 {
			_ = l.el.Execute(context.Background(), l.tickf)
		}
	}
	return tick, gnet.None
}

// churn is the number of connections opened (upgraded) and closed, ever.
func (s *Engine) churn() int64 {
	n := s.upgrades.Load()
	for i := range s.closes {
		n += s.closes[i].Load()
	}
	return n
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

// rejected counts a refused upgrade.
func (s *Engine) rejected(status int) {
	for i, st := range RejectStatuses {
		if st == status || st == 0 {
			s.rejects[i].Add(1)
			return
		}
	}
}

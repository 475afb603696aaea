package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/wspush/wspush/server/internal/api"
	"github.com/wspush/wspush/server/internal/auth"
	"github.com/wspush/wspush/server/internal/budget"
	"github.com/wspush/wspush/server/internal/console"
	"github.com/wspush/wspush/server/internal/engine"
	"github.com/wspush/wspush/server/internal/presence"
	"github.com/wspush/wspush/server/internal/webhook"
)

// Server is a wspush node: WebSocket connections on gnet event loops, the
// HTTP API for the backend, and, as configured, history, the webhook and
// the cluster. It only wires those parts together (docs/design.md has the
// rooms and their doors). Create it with New, run it with Serve and stop
// it with Shutdown.
type Server struct {
	cfg   Config
	log   *slog.Logger
	start time.Time
	fds   budget.Budget

	eng   *engine.Engine
	b     broker               // one node's, or the cluster's
	grace *presence.Grace      // the offline grace, on its own clock
	hook  *webhook.Webhook     // nil without a webhook
	admit *webhook.ConnectHook // nil without a connect hook
	con   *console.Console     // the operator console; nil when off
	rc    receipts             // the delivery receipts (receipts.go)
	now   func() time.Time     // the offline grace's clock: time.Now but in tests

	api     *api.Server // nil without an API, or before Serve
	apiAddr net.Addr
	ready   chan struct{} // closed once both listeners are up

	stopOnce sync.Once
	stopErr  error
}

// New returns a Server for cfg, with defaults filled in. It starts
// nothing: Serve does.
func New(cfg Config) *Server {
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, log: cfg.Logger, start: time.Now(), ready: make(chan struct{}), now: cfg.clock}
	if s.now == nil {
		s.now = time.Now
	}
	s.fds = cfg.budget(budget.OpenFilesLimit())
	s.hook = webhook.New(cfg.Webhook, webhook.Deps{Log: cfg.Logger, Connected: s.connectedElsewhere})
	gc := presence.Config{Grace: cfg.OfflineGrace, Now: s.now}
	if s.hook.Wants(webhook.EventOffline) {
		gc.Expired = s.hook.Offline
	}
	s.grace = presence.NewGrace(gc)
	var bind func(*engine.Engine)
	s.b, bind = newBroker(cfg, s.start, s.grace, s.now, s.nodeStat)
	s.rc = s.newReceipts()
	ec := cfg.ConnConfig
	ec.Auth = &auth.Authenticator{Secret: cfg.JWTSecret, Audience: cfg.JWTAudience, Issuer: cfg.JWTIssuer, RequireExp: cfg.JWTRequireExp}
	ec.AcceptCap, ec.Backlog = max(s.fds.WS, 1), s.fds.Burst
	if cfg.ConnectHook != "" {
		s.admit = webhook.NewConnectHook(cfg.ConnectHook, cfg.Webhook.Secret, cfg.Node)
		ec.Admit = s.admit
	}
	s.eng = engine.New(ec, hooks{s}, s.b.Store())
	bind(s.eng)
	s.con = s.newConsole()
	return s
}

// Config returns the configuration in force, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Serve listens on Config.Addr (and Config.APIAddr) and runs until
// Shutdown. It returns nil after a shutdown.
//
// The event loops write with raw sends and keep their P while they do
// (docs/design.md, Writes): so that the HTTP API and the cluster never
// wait for a loop's fan-out, Serve raises GOMAXPROCS to Loops+1 unless the
// GOMAXPROCS environment variable sets it.
func (s *Server) Serve() error {
	if err := s.cfg.Validate(); err != nil {
		return err
	}
	ReserveProcs(s.cfg.Loops, os.Getenv)
	for _, w := range s.cfg.TrustWarnings() {
		s.log.Warn(w, "auth", s.cfg.AuthMode())
	}
	s.logBudget()
	s.b.Start()
	s.hook.Start()
	s.rc.Start()
	s.grace.Start()
	if s.con != nil {
		s.con.Start()
	}
	if s.cfg.APIAddr != "" {
		ln, err := net.Listen("tcp", s.cfg.APIAddr)
		if err != nil {
			s.closeParts(context.Background())
			return fmt.Errorf("server: API listen on %s: %w", s.cfg.APIAddr, err)
		}
		s.apiAddr = ln.Addr()
		s.api = api.NewServer(ln, api.ServerConfig{MaxConns: s.fds.API, ReadTimeout: s.cfg.APIReadTimeout, Logger: s.log})
		h := s.APIHandler()
		go func() {
			if err := s.api.Serve(h); err != nil {
				s.log.Error("API server stopped", "err", err)
			}
		}()
	}
	go func() {
		<-s.eng.Ready()
		close(s.ready)
	}()
	if err := s.eng.Run(); err != nil {
		if s.api != nil {
			s.api.Close()
		}
		s.closeParts(context.Background())
		return err
	}
	return nil
}

// logBudget logs the split of the open-files limit at start.
func (s *Server) logBudget() {
	b := s.fds
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "descriptor budget",
		slog.Int("open_files_limit", b.Limit), slog.Int("fixed", b.Fixed), slog.Int("api", b.API),
		slog.Int("webhook", b.Webhook), slog.Int("redis", b.Redis), slog.Int("burst", b.Burst),
		slog.Int("websocket", b.WS), slog.Int64("accept_cap", s.eng.AcceptCap()))
}

// ReserveProcs makes room for the Go code beside the event loops, and
// returns GOMAXPROCS. A loop keeps its P while it writes (raw system calls,
// docs/design.md), so with one P per loop the HTTP API, the cluster and
// the webhook would wait for a loop to finish its fan-out before they ran
// at all: pushes through the API ran at three quarters of the rate
// (docs/benchmarks.md). So GOMAXPROCS is at least loops+1, unless the
// GOMAXPROCS variable of getenv's environment sets it. Serve calls it with
// os.Getenv; it is exported for commands that report it first.
func ReserveProcs(loops int, getenv func(string) string) int {
	if getenv("GOMAXPROCS") == "" && runtime.GOMAXPROCS(0) < loops+1 {
		runtime.GOMAXPROCS(loops + 1)
	}
	return runtime.GOMAXPROCS(0)
}

// APIHandler returns the HTTP API that the backend calls (docs/api.md).
// Serve mounts it on Config.APIAddr; each handler has its own Prometheus
// registry.
func (s *Server) APIHandler() http.Handler {
	parts := append(s.eng.Collectors(), s.b.Collectors()...)
	parts = append(parts, s.rc.Collector())
	parts = append(parts, s.api.Collector(), s.fds.Collector(), auth.ModeCollector(s.cfg.AuthMode()))
	if s.hook != nil {
		parts = append(parts, s.hook.Collector())
	}
	if s.admit != nil {
		parts = append(parts, s.admit.Collectors()...)
	}
	cfg := api.Config{Key: s.cfg.APIKey, Demo: s.cfg.Demo, Collectors: parts, Logger: s.log, Version: s.cfg.Version,
		BatchMessages: s.cfg.APIBatchMessages, BatchBytes: s.cfg.APIBatchBytes}
	if s.con != nil {
		cfg.Collectors = append(cfg.Collectors, s.con.Collector())
		cfg.Console = s.con.Handler
	}
	return api.New(cfg, backend{s})
}

// APIAddr is the HTTP API listener's address, once Ready is closed; nil
// when the server has no API.
func (s *Server) APIAddr() net.Addr { return s.apiAddr }

// Ready is closed once the listeners accept connections.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the WebSocket listener's address, once Ready is closed.
func (s *Server) Addr() net.Addr { return s.eng.Addr() }

// Conns is the number of upgraded connections.
func (s *Server) Conns() int64 { return s.eng.Conns() }

// Shutdown stops the server gracefully, each part after those that depend
// on it: the HTTP API first (no new pushes; calls in flight finish), then
// the connections (new upgrades get 503, every connection the going_away
// disconnect and 1001, until they have closed or ctx ends) and the event
// loops, then the webhook (flushing what the closes queued), and Redis
// last.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		if s.con != nil {
			s.con.Close() // ends its streams, which the API would wait for
		}
		if s.api != nil {
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			s.api.Shutdown(actx)
			cancel()
		}
		s.eng.Drain(ctx)
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.stopErr = s.eng.Stop(sctx)
		s.closeParts(sctx)
	})
	return s.stopErr
}

// closeParts stops the webhook, then the broker (Redis last).
func (s *Server) closeParts(ctx context.Context) {
	if s.con != nil {
		s.con.Close()
	}
	s.grace.Close()
	s.rc.Close() // its clock tells the webhook: before it
	s.hook.Close(ctx)
	s.b.Close()
}

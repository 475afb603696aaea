// Package console is the operator console: pages embedded in the binary,
// served on the HTTP API's listener at /console/, and the JSON API under
// /console/api/ that they (and scripts) use (docs/console.md). It logs
// operators in (the API key, --console-key, a read-only key, or the named
// operators of --console-users) with a signed session cookie and a CSRF
// token, keeps the last 15 minutes of the overview, the audit log of what
// operators did, and the live tail of events. It reaches the server only
// through Backend.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wspush/wspush/server/internal/auth"
	"github.com/wspush/wspush/server/internal/wire"
	"github.com/wspush/wspush/server/webui"
)

//go:embed static
var static embed.FS

// Backend is what the console calls: the server's goroutine-safe doors.
type Backend interface {
	Stats() wire.Stats
	// Page is a page of the connections, the cluster's: the nodes that
	// did not answer in time are named in its Missing, and each
	// connection's Node is set.
	Page(ctx context.Context, q wire.ConnQuery) (wire.ConnPage, error)
	// ConnDetail and Disconnect act on connection id of node ("" for
	// this node).
	ConnDetail(ctx context.Context, node string, id uint64) (wire.ConnDetail, error)
	Disconnect(ctx context.Context, node string, id uint64, reason string) error
	ConnsOf(user string) []wire.ConnInfo
	Closed(user string, limit int) []wire.ClosedConn
	TopQueued(ctx context.Context, k int) []wire.Queued
	RoomMembers(ctx context.Context, room string, limit int) ([]wire.ConnInfo, int)
	Presence(ctx context.Context, user string) wire.Presence
	Push(ctx context.Context, id string, users []string, data json.RawMessage) (wire.PushResult, error)
	Publish(ctx context.Context, id, room string, data json.RawMessage) (int, error)
	Broadcast(ctx context.Context, id string, data json.RawMessage) (int, error)
	// Kick disconnects every connection of user, the cluster's included,
	// with reason.
	Kick(ctx context.Context, user, reason string) (int, error)
	// RoomList pages through the rooms with users, the cluster's, in name
	// order after after; RoomUsers through a room's users.
	RoomList(ctx context.Context, after string, limit int) (wire.RoomsPage, error)
	RoomUsers(ctx context.Context, room, after string, limit int) (wire.RoomPage, error)
	// WebhookFailures are the webhook's last failed requests, newest
	// first.
	WebhookFailures() []wire.WebhookFailure
	// LoopLag is how long a job waits for the slowest event loop.
	LoopLag(ctx context.Context) (time.Duration, error)
	// UserNodes says on which nodes user has connections, and how many.
	UserNodes(ctx context.Context, user string) (map[string]int, error)
	// History is the last messages of user's stream (push envelopes),
	// at most limit; on is false without history.
	History(ctx context.Context, user string, limit int) (msgs []json.RawMessage, on bool, err error)
}

// Config configures the console.
type Config struct {
	// APIKey logs in as an admin, as does Key (--console-key);
	// ReadonlyKey as a viewer. Users are the named operators of
	// --console-users. With none of them (development mode) the console
	// opens without a login and says so.
	APIKey, Key, ReadonlyKey string
	Users                    []User
	// Node names this node; Version is the binary's.
	Node, Version string
	// Settings is the effective configuration, secrets redacted, as
	// --check-config prints it.
	Settings string
	// Logger receives the audit log and the console's warnings.
	Logger *slog.Logger
}

// Console is the operator console of one node.
type Console struct {
	cfg  Config
	b    Backend
	log  *slog.Logger
	gate *gate
	tail *Tail
	aud  *audit
	smp  *sampler

	gmu sync.Mutex
	g   prometheus.Gatherer

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// New returns the console for cfg over b. Start starts its one-second
// sampler; Close stops it and ends the streams.
func New(cfg Config, b Backend) *Console {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Console{cfg: cfg, b: b, log: log, gate: newGate(cfg), tail: &Tail{}, aud: &audit{log: log}, stop: make(chan struct{})}
	c.smp = &sampler{stats: b.Stats, gather: c.gatherer, lag: b.LoopLag, onRedis: func(state string) {
		if c.tail.On() {
			c.tail.Emit(Event{Type: "redis", Node: cfg.Node, Reason: state})
		}
	}}
	return c
}

// Tail is the live tail, for the server's hooks to Emit to while On.
func (c *Console) Tail() *Tail { return c.tail }

// Node is this node's name, as the console shows it.
func (c *Console) Node() string { return c.cfg.Node }

// Development reports whether the console opens without a login.
func (c *Console) Development() bool { return c.gate.open }

func (c *Console) gatherer() prometheus.Gatherer {
	c.gmu.Lock()
	defer c.gmu.Unlock()
	return c.g
}

// Start starts the sampler: a point a second into the overview's ring.
func (c *Console) Start() {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case now := <-t.C:
				c.smp.add(c.smp.take(now))
			}
		}
	}()
}

// Close stops the sampler and ends every stream.
func (c *Console) Close() {
	c.stopOnce.Do(func() { close(c.stop) })
	c.wg.Wait()
}

// Handler serves the console under /console/; g is the registry of
// /metrics, which the overview and the webhook page read.
func (c *Console) Handler(g prometheus.Gatherer) http.Handler {
	c.gmu.Lock()
	c.g = g
	c.gmu.Unlock()
	mux := http.NewServeMux()
	sub, _ := fs.Sub(static, "static")
	files := http.StripPrefix("/console/static/", http.FileServerFS(sub))
	chart := http.StripPrefix("/console/", http.FileServerFS(webui.FS))
	mux.HandleFunc("GET /console/{$}", func(w http.ResponseWriter, r *http.Request) {
		b, _ := static.ReadFile("static/index.html")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(b)
	})
	mux.Handle("GET /console/static/", files)
	mux.Handle("GET /console/uplot/", chart)
	mux.HandleFunc("POST /console/api/login", c.login)
	mux.HandleFunc("POST /console/api/logout", c.logout)
	mux.HandleFunc("GET /console/api/session", c.session)

	view := func(p string, h func(http.ResponseWriter, *http.Request, session)) {
		mux.HandleFunc("GET "+p, c.need(false, h))
	}
	act := func(p string, h func(http.ResponseWriter, *http.Request, session)) {
		mux.HandleFunc("POST "+p, c.need(true, h))
	}
	view("/console/api/overview", c.overview)
	view("/console/api/overview/stream", c.overviewStream)
	view("/console/api/connections", c.connections)
	view("/console/api/connections/top", c.top)
	view("/console/api/connections/{id}", c.conn)
	act("/console/api/connections/{id}/disconnect", c.disconnect)
	view("/console/api/users/{user}", c.user)
	act("/console/api/users/{user}/push", c.userPush)
	act("/console/api/users/{user}/kick", c.kick)
	view("/console/api/rooms", c.rooms)
	view("/console/api/rooms/{room}", c.room)
	act("/console/api/rooms/{room}/publish", c.publish)
	act("/console/api/push", c.push)
	act("/console/api/broadcast", c.broadcast)
	view("/console/api/webhook", c.webhook)
	view("/console/api/audit", c.audit)
	view("/console/api/tail", c.tailStream)
	view("/console/api/config", c.config)
	mux.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no console call at "+r.Method+" "+r.URL.Path+" (docs/console.md)")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'")
		if r.URL.Path == "/console" {
			http.Redirect(w, r, "/console/", http.StatusMovedPermanently)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// need wraps a call that needs a session; an action (act) also needs the
// admin role, the same origin and the session's CSRF token.
func (c *Console) need(act bool, h func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.gate.current(r)
		if !ok {
			writeError(w, http.StatusUnauthorized, "unauthorized", "log in to the console first (POST /console/api/login)")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		if act {
			if !sameOrigin(r) || r.Header.Get("X-CSRF-Token") != c.gate.csrf(s) {
				writeError(w, http.StatusForbidden, "csrf", "a console action needs the same origin and the X-CSRF-Token of GET /console/api/session")
				return
			}
			if s.Role != RoleAdmin {
				writeError(w, http.StatusForbidden, "read_only", "this session is read-only: it cannot push, publish, broadcast, kick or disconnect")
				return
			}
		}
		h(w, r, s)
	}
}

// loginBody is what POST /console/api/login takes: a key, or a user and
// password of --console-users.
type loginBody struct {
	Key      string `json:"key"`
	User     string `json:"user"`
	Password string `json:"password"`
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, "csrf", "log in from the console's own page")
		return
	}
	addr, now := clientAddr(r), c.gate.now()
	if wait := c.gate.lim.blocked(addr, now); wait > 0 {
		c.gate.limited.Add(1)
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		writeError(w, http.StatusTooManyRequests, "too_many_logins",
			"too many failed logins from "+addr+": wait "+wait.Round(time.Second).String())
		return
	}
	var b loginBody
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&b); err != nil {
		writeError(w, http.StatusBadRequest, "bad_json", "want {\"key\":KEY} or {\"user\":NAME,\"password\":P}")
		return
	}
	if c.gate.open {
		writeJSON(w, http.StatusOK, c.sessionInfo(session{Name: "development", Role: RoleAdmin}))
		return
	}
	secret := b.Key
	if b.User != "" {
		secret = b.Password
	}
	s, ok := c.gate.login(b.User, secret)
	if !ok {
		c.gate.lim.failed(addr, now)
		c.gate.refused.Add(1)
		c.aud.add(Entry{T: now, Who: b.User, Addr: addr, Action: "login_failed", Result: "refused"})
		writeError(w, http.StatusUnauthorized, "unauthorized", "wrong key, user or password")
		return
	}
	c.gate.ok.Add(1)
	c.aud.add(Entry{T: now, Who: s.Name, Role: s.Role, Addr: addr, Action: "login", Result: "ok"})
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: c.gate.cookie(s), Path: "/console/",
		Expires: time.Unix(s.Exp, 0), MaxAge: int(SessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: https(r)})
	writeJSON(w, http.StatusOK, c.sessionInfo(s))
}

// https reports whether the browser reached the console over https: TLS
// here, or a proxy in front that says so.
func https(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	if s, ok := c.gate.current(r); ok && !c.gate.open {
		c.aud.add(Entry{T: time.Now(), Who: s.Name, Role: s.Role, Addr: clientAddr(r), Action: "logout", Result: "ok"})
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/console/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: https(r)})
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// sessionInfo is the answer of GET /console/api/session and of a login.
type sessionInfo struct {
	Name        string    `json:"name"`
	Role        string    `json:"role"`
	CSRF        string    `json:"csrf"`
	Development bool      `json:"development"`
	Expires     time.Time `json:"expires,omitzero"`
	Node        string    `json:"node"`
	Version     string    `json:"version"`
	Users       bool      `json:"named_operators"` // --console-users is set: the login asks for a name
}

func (c *Console) sessionInfo(s session) sessionInfo {
	si := sessionInfo{Name: s.Name, Role: s.Role, CSRF: c.gate.csrf(s), Development: c.gate.open,
		Node: c.cfg.Node, Version: c.cfg.Version, Users: len(c.gate.users) > 0}
	if s.Exp > 0 {
		si.Expires = time.Unix(s.Exp, 0)
	}
	return si
}

func (c *Console) session(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	s, ok := c.gate.current(r)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "unauthorized", "message": "not logged in",
			"named_operators": len(c.gate.users) > 0})
		return
	}
	writeJSON(w, http.StatusOK, c.sessionInfo(s))
}

// Collector is the console's metrics.
func (c *Console) Collector() prometheus.Collector { return collector{c} }

var (
	descLogins   = prometheus.NewDesc("wspush_console_logins_total", "Console logins by result: ok, refused (wrong key or password), limited (429 after too many failures from one address).", []string{"result"}, nil)
	descLimiter  = prometheus.NewDesc("wspush_console_login_limiter_entries", "Client addresses the console's login limiter remembers (at most 4096).", nil, nil)
	descTails    = prometheus.NewDesc("wspush_console_tail_watchers", "Live tails open in the console (at most 16).", nil, nil)
	descTailDrop = prometheus.NewDesc("wspush_console_tail_dropped_total", "Live-tail events dropped for tails past their rate or queue (each tail is told).", nil, nil)
	descStreams  = prometheus.NewDesc("wspush_console_streams", "Overview streams open in the console.", nil, nil)
)

type collector struct{ c *Console }

func (k collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLogins, descLimiter, descTails, descTailDrop, descStreams} {
		ch <- d
	}
}

func (k collector) Collect(ch chan<- prometheus.Metric) {
	g := k.c.gate
	ch <- prometheus.MustNewConstMetric(descLogins, prometheus.CounterValue, float64(g.ok.Load()), "ok")
	ch <- prometheus.MustNewConstMetric(descLogins, prometheus.CounterValue, float64(g.refused.Load()), "refused")
	ch <- prometheus.MustNewConstMetric(descLogins, prometheus.CounterValue, float64(g.limited.Load()), "limited")
	ch <- prometheus.MustNewConstMetric(descLimiter, prometheus.GaugeValue, float64(g.lim.size()))
	ch <- prometheus.MustNewConstMetric(descTails, prometheus.GaugeValue, float64(k.c.tail.n.Load()))
	ch <- prometheus.MustNewConstMetric(descTailDrop, prometheus.CounterValue, float64(k.c.tail.dropped.Load()))
	ch <- prometheus.MustNewConstMetric(descStreams, prometheus.GaugeValue, float64(k.c.smp.streams()))
}

// validName answers 400 and returns false unless v is a valid name.
func validName(w http.ResponseWriter, what, v string) bool {
	if !auth.ValidName(v) {
		writeError(w, http.StatusBadRequest, "bad_request", what+": 1 to 128 bytes of printable UTF-8 required")
		return false
	}
	return true
}

// failed answers an error of the backend.
func failed(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, wire.ErrNoConn):
		writeError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, wire.ErrBusy):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "busy", err.Error()+": retry later")
	case errors.Is(err, wire.ErrNoAnswer):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "no_answer", err.Error()+": retry later")
	case errors.Is(err, wire.ErrUnavailable):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "unavailable", err.Error()+": retry later")
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, "timeout", "the event loops did not answer in time")
	default:
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(wire.Error{Error: "internal", Message: err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, wire.Error{Error: code, Message: msg})
}

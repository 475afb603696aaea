package engine

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wspush/wspush/server/internal/auth"
	"github.com/wspush/wspush/server/internal/wire"
)

// The connect hook (--connect-hook, docs/webhook.md). With one, an
// upgraded connection gets its 101 at once but its welcome only once the
// backend has said who it is: the loop files it as admitting, hands the
// facts of its handshake to a goroutine that asks the hook, and serves its
// other connections meanwhile. The verdict comes back to the loop as a
// task: the welcome (as the user the hook named, in the rooms it listed)
// or an in-band refusal. The loop never waits, and what waits is bounded:
// AdmitMaxPending verdicts at once, each within AdmitTimeout; past either
// the client is told connect_unavailable (4006, retry), and a hook that is
// down refuses too (fail closed) unless AdmitFailOpen.

// Defaults of the connect hook's bounds.
const (
	DefaultAdmitTimeout    = 3 * time.Second
	DefaultAdmitMaxPending = 1024
)

// Admitter asks the backend about a connection. Admit runs on a goroutine
// of its own and must return by ctx's deadline; an error (hook down, an
// answer that is not a verdict) leaves the connection unadmitted.
type Admitter interface {
	Admit(ctx context.Context, f wire.ConnectFacts) (wire.Admission, error)
}

// admission is what a connection waiting for its verdict keeps of its
// handshake: the loop's scratch is another upgrade's by then.
type admission struct {
	hs      handshake
	id      auth.Identity
	noToken bool // upgraded without a token, for the hook to decide
}

// Verdicts of the connect hook, the labels of wspush_connect_hook_verdicts_total.
const (
	admitAccepted = iota
	admitRefused
	admitUnavailable // the hook failed, or answered too late
	admitOverflow    // AdmitMaxPending were already waiting
	admitGone        // the client closed before its verdict came
	numVerdicts
)

var verdictNames = [numVerdicts]string{"accepted", "refused", "unavailable", "overflow", "gone"}

// admitStats are the hook's counters, read by metrics and /v1/stats.
type admitStats struct {
	pending  atomic.Int64
	verdicts [numVerdicts]atomic.Int64
}

// admitHeader returns the canonical name of key when the hook is to be
// told of that header.
func (l *loop) admitHeader(key []byte) (string, bool) {
	for _, h := range l.s.cfg.AdmitHeaders {
		if len(h) == len(key) && equalFoldASCII(h, key) {
			return http.CanonicalHeaderKey(h), true
		}
	}
	return "", false
}

func equalFoldASCII(a string, b []byte) bool {
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// admit sends c's 101 and asks the hook about it, off the loop. c waits
// as stateAdmitting: whatever it sends stays in gnet's inbound buffer
// (bounded, in traffic) until its verdict.
func (l *loop) admit(c *conn) (gnet.Action, bool) {
	s := l.s
	if s.admit.pending.Add(1) > int64(s.cfg.AdmitMaxPending) {
		s.admit.pending.Add(-1)
		s.admit.verdicts[admitOverflow].Add(1)
		return l.refuse(c, wire.DisconnectUnadmitted)
	}
	a := &admission{id: l.hs.id, noToken: l.hs.noToken, hs: handshake{
		query:  append([]byte(nil), l.hs.query...),
		realIP: append([]byte(nil), l.hs.realIP...),
		xff:    append([]byte(nil), l.hs.xff...),
	}}
	f := l.facts(c, a)
	c.write(l.rsp.Bytes())
	if c.state == stateClosed {
		s.admit.pending.Add(-1)
		return gnet.None, false
	}
	c.state = stateAdmitting
	if l.admits == nil {
		l.admits = make(map[*conn]*admission)
	}
	l.admits[c] = a
	// A safety net behind the goroutine's own deadline (fire).
	l.wheel.move(c, l.now+ticks(s.cfg.AdmitTimeout)+ticks(time.Second))
	go s.ask(l, c, f)
	return gnet.None, false
}

// facts are what the hook is told of c.
func (l *loop) facts(c *conn, a *admission) wire.ConnectFacts {
	s := l.s
	q, _ := url.ParseQuery(string(l.hs.query))
	token := q.Get("token")
	q.Del("token")
	if token == "" {
		token = string(l.hs.bearer)
	}
	f := wire.ConnectFacts{
		Type:   "connect.request",
		Time:   time.Now().UnixMilli(),
		Remote: c.gc.RemoteAddr().String(),
		IP:     s.clientIP(c.gc.RemoteAddr(), &l.hs),
		Query:  q,
		User:   a.id.User,
	}
	if token != "" && !a.noToken && s.cfg.Auth.Secret != "" {
		f.Claims = auth.TokenClaims(token)
	}
	if len(l.hs.hdrs) > 0 {
		f.Headers = make(map[string]string, len(l.hs.hdrs)/2)
		for i := 0; i+1 < len(l.hs.hdrs); i += 2 {
			f.Headers[l.hs.hdrs[i]] = l.hs.hdrs[i+1]
		}
	}
	return f
}

// ask runs the hook for c and hands its verdict to c's loop.
func (s *Engine) ask(l *loop, c *conn, f wire.ConnectFacts) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.AdmitTimeout)
	v, err := s.cfg.Admit.Admit(ctx, f)
	cancel()
	s.admit.pending.Add(-1)
	_ = l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		l.admitted(c, v, err)
		return nil
	}))
}

// admitted acts on c's verdict, on c's loop: the welcome, or the
// disconnect that says why not. A conn closed meanwhile is no longer in
// l.admits, and its verdict is dropped.
func (l *loop) admitted(c *conn, v wire.Admission, err error) {
	a, ok := l.admits[c]
	if !ok {
		return
	}
	delete(l.admits, c)
	l.clock()
	s := l.s
	c.state = stateOpen
	c.seen = l.now
	id := a.id
	switch {
	case err != nil && (!s.cfg.AdmitFailOpen || a.noToken):
		s.admit.verdicts[admitUnavailable].Add(1)
		c.disconnect(wire.DisconnectUnadmitted, "")
		return
	case err != nil:
		// Fail open: as the token says, as if there were no hook.
		v = wire.Admission{}
	case v.Refused:
		s.admit.verdicts[admitRefused].Add(1)
		c.disconnect(wire.DisconnectRefused, v.Reason)
		return
	}
	if v.User != "" {
		id.User = v.User
	}
	switch {
	case v.Perms != nil:
		id.Perms = auth.NewPerms(v.Perms.Rooms, v.Perms.Publish, v.Perms.Send, v.Perms.SendTo)
	case a.noToken && s.cfg.Auth.Secret != "":
		id.Perms = auth.NewPerms(nil, nil, false, nil) // no token: receive only
	}
	if id.User == "" {
		s.admit.verdicts[admitRefused].Add(1)
		c.disconnect(wire.DisconnectRefused, "the connect hook named no user")
		return
	}
	s.admit.verdicts[admitAccepted].Add(1)
	if !validMeta(v.Meta) {
		v.Meta = nil
	}
	out := c.join(l.out[:0], id, &a.hs, v.Meta)
	l.out = out
	for _, room := range v.Rooms {
		// Only a new membership counts: a room the backend keeps the
		// user in was joined already, and the roster counts each once.
		if ok, err := s.pool.Join(&c.sess.m, room); err == nil && ok {
			s.joined(&c.sess.m, room)
		}
	}
	c.write(out)
	if c.state != stateOpen {
		return
	}
	l.wheel.move(c, l.nextDeadline(c))
	// Frames the client sent while it waited.
	if c.gc.InboundBuffered() > 0 {
		if act := c.traffic(); act == gnet.Close {
			_ = l.el.Close(c.gc)
		}
	}
}

// unadmit forgets c's wait for a verdict: it closed, timed out or the
// server is going away. It reports whether c was waiting.
func (l *loop) unadmit(c *conn) bool {
	if _, ok := l.admits[c]; !ok {
		return false
	}
	delete(l.admits, c)
	return true
}

// admitTimeout ends c's wait once its verdict is overdue: the goroutine
// asking the hook is stuck past its deadline.
func (l *loop) admitTimeout(c *conn) {
	l.unadmit(c)
	l.s.admit.verdicts[admitUnavailable].Add(1)
	c.state = stateOpen
	c.disconnect(wire.DisconnectUnadmitted, "")
}

// admitCollector exports the connect hook's engine-side counters.
type admitCollector struct {
	s                        *Engine
	pending, verdicts, limit *prometheus.Desc
}

func newAdmitCollector(s *Engine) *admitCollector {
	return &admitCollector{s: s,
		pending: prometheus.NewDesc("wspush_connect_hook_pending",
			"Connections waiting for the connect hook's verdict (capped by --connect-hook-max-pending).", nil, nil),
		verdicts: prometheus.NewDesc("wspush_connect_hook_verdicts_total",
			"Connections the connect hook decided, by verdict: accepted, refused, unavailable (hook down, slow or garbled: told connect_unavailable), overflow (--connect-hook-max-pending were waiting), gone (closed while waiting).",
			[]string{"verdict"}, nil),
		limit: prometheus.NewDesc("wspush_connect_hook_pending_limit",
			"--connect-hook-max-pending: connections that may wait for the connect hook's verdict; past it a new one is refused (overflow).", nil, nil),
	}
}

func (c *admitCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.verdicts
	ch <- c.limit
}

func (c *admitCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(c.s.admit.pending.Load()))
	ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, float64(c.s.cfg.AdmitMaxPending))
	for i := range numVerdicts {
		ch <- prometheus.MustNewConstMetric(c.verdicts, prometheus.CounterValue, float64(c.s.admit.verdicts[i].Load()), verdictNames[i])
	}
}

// meta checks what the welcome may carry as meta: a JSON object.
func validMeta(m json.RawMessage) bool {
	return len(m) == 0 || json.Valid(m) && m[0] == '{'
}

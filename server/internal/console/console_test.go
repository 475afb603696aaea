package console

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/wspush/wspush/server/internal/wire"
)

const (
	apiKey   = "the-api-key-0123456789"
	viewKey  = "the-readonly-key-987654"
	password = "operator password"
)

// fake is a Backend that records what the console asked of it.
type fake struct {
	mu     sync.Mutex
	pushes []string
	kicks  []string
	disc   []string
}

func (f *fake) Stats() wire.Stats { return wire.Stats{Connections: 3, Users: 2} }
func (f *fake) Page(_ context.Context, q wire.ConnQuery) (wire.ConnPage, error) {
	return wire.ConnPage{Conns: []wire.ConnInfo{{ID: 1, User: q.Prefix + "x"}}}, nil
}
func (f *fake) ConnDetail(context.Context, string, uint64) (wire.ConnDetail, error) {
	return wire.ConnDetail{}, wire.ErrNoConn
}
func (f *fake) Disconnect(_ context.Context, _ string, id uint64, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.disc = append(f.disc, reason)
	return nil
}
func (f *fake) ConnsOf(string) []wire.ConnInfo                     { return nil }
func (f *fake) Closed(string, int) []wire.ClosedConn               { return nil }
func (f *fake) TopQueued(context.Context, int) []wire.Queued       { return nil }
func (f *fake) Presence(_ context.Context, u string) wire.Presence { return wire.Presence{User: u} }
func (f *fake) RoomMembers(context.Context, string, int) ([]wire.ConnInfo, int) {
	return nil, 0
}
func (f *fake) Push(_ context.Context, _ string, users []string, data json.RawMessage) (wire.PushResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pushes = append(f.pushes, string(data))
	return wire.PushResult{Delivered: 1}, nil
}
func (f *fake) History(context.Context, string, int) ([]json.RawMessage, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []json.RawMessage{}
	for _, p := range f.pushes {
		out = append(out, json.RawMessage(`{"type":"push","data":`+p+`}`))
	}
	return out, true, nil
}
func (f *fake) RoomList(context.Context, string, int) (wire.RoomsPage, error) {
	return wire.RoomsPage{Rooms: []wire.RoomCount{}}, nil
}
func (f *fake) RoomUsers(_ context.Context, room, _ string, _ int) (wire.RoomPage, error) {
	return wire.RoomPage{Room: room, Members: []string{}}, nil
}
func (f *fake) WebhookFailures() []wire.WebhookFailure         { return nil }
func (f *fake) LoopLag(context.Context) (time.Duration, error) { return time.Millisecond, nil }
func (f *fake) UserNodes(context.Context, string) (map[string]int, error) {
	return map[string]int{"n1": 1}, nil
}
func (f *fake) Publish(context.Context, string, string, json.RawMessage) (int, error) { return 0, nil }
func (f *fake) Broadcast(context.Context, string, json.RawMessage) (int, error)       { return 0, nil }
func (f *fake) Kick(_ context.Context, u, reason string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kicks = append(f.kicks, u+":"+reason)
	return 1, nil
}

type rig struct {
	t    *testing.T
	c    *Console
	b    *fake
	srv  *httptest.Server
	logs *bytes.Buffer
}

func newRig(t *testing.T, cfg Config) *rig {
	logs := &bytes.Buffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	cfg.Node = "n1"
	b := &fake{}
	c := New(cfg, b)
	srv := httptest.NewServer(c.Handler(prometheus.NewRegistry()))
	t.Cleanup(func() { srv.Close(); c.Close() })
	return &rig{t: t, c: c, b: b, srv: srv, logs: logs}
}

// do sends a request with the given cookie, CSRF token and Origin.
func (r *rig) do(method, path, body, cookie, csrf, origin string) (*http.Response, string) {
	r.t.Helper()
	req, _ := http.NewRequest(method, r.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if cookie != "" {
		req.Header.Set("Cookie", CookieName+"="+cookie)
	}
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// login logs in with body and returns the cookie and the CSRF token.
func (r *rig) login(body string) (string, string) {
	r.t.Helper()
	resp, b := r.do("POST", "/console/api/login", body, "", "", "")
	if resp.StatusCode != 200 {
		r.t.Fatalf("login %s: %d %s", body, resp.StatusCode, b)
	}
	var si sessionInfo
	_ = json.Unmarshal([]byte(b), &si)
	for _, c := range resp.Cookies() {
		if c.Name == CookieName {
			return c.Value, si.CSRF
		}
	}
	r.t.Fatal("no session cookie")
	return "", ""
}

func TestWrongKeyIsRefusedAndNothingOpensWithoutASession(t *testing.T) {
	r := newRig(t, Config{APIKey: apiKey})
	if resp, _ := r.do("POST", "/console/api/login", `{"key":"wrong"}`, "", "", ""); resp.StatusCode != 401 {
		t.Fatalf("wrong key: %d", resp.StatusCode)
	}
	for _, p := range []string{"/console/api/overview", "/console/api/connections", "/console/api/audit", "/console/api/tail", "/console/api/config"} {
		if resp, _ := r.do("GET", p, "", "", "", ""); resp.StatusCode != 401 {
			t.Errorf("%s without a session: %d", p, resp.StatusCode)
		}
	}
	// A forged cookie, or one signed by another process, is no session.
	other := newRig(t, Config{APIKey: apiKey})
	cookie, _ := other.login(`{"key":"` + apiKey + `"}`)
	if resp, _ := r.do("GET", "/console/api/overview", "", cookie, "", ""); resp.StatusCode != 401 {
		t.Fatalf("another process's cookie: %d", resp.StatusCode)
	}
	if resp, _ := r.do("GET", "/console/api/overview", "", cookie[:len(cookie)-2]+"xx", "", ""); resp.StatusCode != 401 {
		t.Fatalf("a tampered cookie: %d", resp.StatusCode)
	}
	if resp, _ := r.do("GET", "/console/", "", "", "", ""); resp.StatusCode != 200 {
		t.Fatalf("the login page itself: %d", resp.StatusCode)
	}
}

func TestReadOnlyKeyCannotActNorSeePayloads(t *testing.T) {
	r := newRig(t, Config{APIKey: apiKey, ReadonlyKey: viewKey})
	admin, acsrf := r.login(`{"key":"` + apiKey + `"}`)
	if resp, b := r.do("POST", "/console/api/users/u1/push", `{"data":{"secret":"payload-123"}}`, admin, acsrf, ""); resp.StatusCode != 200 {
		t.Fatalf("admin push: %d %s", resp.StatusCode, b)
	}
	view, vcsrf := r.login(`{"key":"` + viewKey + `"}`)
	for _, p := range []string{"/console/api/users/u1/push", "/console/api/users/u1/kick", "/console/api/connections/1/disconnect",
		"/console/api/push", "/console/api/broadcast", "/console/api/rooms/r/publish"} {
		resp, b := r.do("POST", p, `{"data":1,"users":["u1"]}`, view, vcsrf, "")
		if resp.StatusCode != 403 || !strings.Contains(b, "read_only") {
			t.Errorf("viewer %s: %d %s", p, resp.StatusCode, b)
		}
	}
	if len(r.b.kicks) != 0 || len(r.b.pushes) != 1 || len(r.b.disc) != 0 {
		t.Fatalf("backend saw kicks %v pushes %v disconnects %v", r.b.kicks, r.b.pushes, r.b.disc)
	}
	if _, b := r.do("GET", "/console/api/users/u1", "", view, "", ""); strings.Contains(b, "payload-123") || !strings.Contains(b, "hidden from viewers") {
		t.Fatalf("viewer's user page: %s", b)
	}
	if _, b := r.do("GET", "/console/api/users/u1", "", admin, "", ""); !strings.Contains(b, "payload-123") {
		t.Fatalf("admin's user page lacks the history: %s", b)
	}
	resp, b := r.do("GET", "/console/api/audit", "", view, "", "")
	if resp.StatusCode != 200 || strings.Contains(b, "payload-123") || !strings.Contains(b, `"action":"push"`) {
		t.Fatalf("viewer's audit log: %d %s", resp.StatusCode, b)
	}
	if _, b := r.do("GET", "/console/api/audit", "", admin, "", ""); !strings.Contains(b, "payload-123") {
		t.Fatalf("admin's audit log lacks the payload: %s", b)
	}
}

func TestActionsNeedTheCSRFTokenAndTheSameOrigin(t *testing.T) {
	r := newRig(t, Config{APIKey: apiKey})
	cookie, csrf := r.login(`{"key":"` + apiKey + `"}`)
	host := strings.TrimPrefix(r.srv.URL, "http://")
	cases := []struct{ csrf, origin string }{
		{"", ""},                       // no token
		{"forged", ""},                 // a wrong token
		{csrf, "https://evil.example"}, // the right token from another origin
		{"", "https://evil.example"},   // a cross-origin form post
	}
	for _, c := range cases {
		resp, b := r.do("POST", "/console/api/users/u1/kick", `{"reason":"x"}`, cookie, c.csrf, c.origin)
		if resp.StatusCode != 403 || !strings.Contains(b, "csrf") {
			t.Errorf("csrf %q origin %q: %d %s", c.csrf, c.origin, resp.StatusCode, b)
		}
	}
	if len(r.b.kicks) != 0 {
		t.Fatalf("kicked anyway: %v", r.b.kicks)
	}
	if resp, b := r.do("POST", "/console/api/users/u1/kick", `{"reason":"support ticket 42"}`, cookie, csrf, "http://"+host); resp.StatusCode != 200 {
		t.Fatalf("same origin with the token: %d %s", resp.StatusCode, b)
	}
	if len(r.b.kicks) != 1 || r.b.kicks[0] != "u1:support ticket 42" {
		t.Fatalf("kicks %v", r.b.kicks)
	}
	// A login from another origin is refused too (login CSRF).
	if resp, _ := r.do("POST", "/console/api/login", `{"key":"`+apiKey+`"}`, "", "", "https://evil.example"); resp.StatusCode != 403 {
		t.Fatalf("cross-origin login: %d", resp.StatusCode)
	}
}

func TestSessionCookieFlagsAndTheKeyNeverComesBack(t *testing.T) {
	r := newRig(t, Config{APIKey: apiKey})
	resp, body := r.do("POST", "/console/api/login", `{"key":"`+apiKey+`"}`, "", "", "")
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == CookieName {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.MaxAge <= 0 || ck.Path != "/console/" {
		t.Fatalf("cookie over http: %+v", ck)
	}
	raw := resp.Header.Get("Set-Cookie")
	if strings.Contains(raw, apiKey) || strings.Contains(body, apiKey) {
		t.Fatal("the key is in the login's answer")
	}
	var all strings.Builder
	all.WriteString(body)
	for _, p := range []string{"/console/api/session", "/console/api/overview", "/console/api/config", "/console/api/audit", "/console/", "/console/static/console.js"} {
		_, b := r.do("GET", p, "", ck.Value, "", "")
		all.WriteString(b)
	}
	if strings.Contains(all.String(), apiKey) {
		t.Fatal("the key is in an answer")
	}
	if strings.Contains(r.logs.String(), apiKey) {
		t.Fatalf("the key is in the log: %s", r.logs.String())
	}
	if !strings.Contains(r.logs.String(), `"action":"login"`) {
		t.Fatalf("the login is not in the audit log: %s", r.logs.String())
	}
	// Behind https (a proxy that says so, or TLS here) the cookie is Secure.
	req, _ := http.NewRequest("POST", r.srv.URL+"/console/api/login", strings.NewReader(`{"key":"`+apiKey+`"}`))
	req.Header.Set("X-Forwarded-Proto", "https")
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if c := resp2.Cookies(); len(c) != 1 || !c[0].Secure {
		t.Fatalf("cookie behind https: %+v", c)
	}
	tsrv := httptest.NewTLSServer(r.c.Handler(prometheus.NewRegistry()))
	defer tsrv.Close()
	cl := tsrv.Client()
	cl.Transport.(*http.Transport).TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	resp3, err := cl.Post(tsrv.URL+"/console/api/login", "application/json", strings.NewReader(`{"key":"`+apiKey+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp3.Body.Close()
	if c := resp3.Cookies(); len(c) != 1 || !c[0].Secure {
		t.Fatalf("cookie over TLS: %+v", c)
	}
}

func TestFailedLoginsAreRateLimited(t *testing.T) {
	r := newRig(t, Config{APIKey: apiKey})
	for i := range LoginFailures {
		if resp, _ := r.do("POST", "/console/api/login", `{"key":"guess"}`, "", "", ""); resp.StatusCode != 401 {
			t.Fatalf("attempt %d: %d", i, resp.StatusCode)
		}
	}
	resp, b := r.do("POST", "/console/api/login", `{"key":"`+apiKey+`"}`, "", "", "")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after %d failures, even the right key: %d %s", LoginFailures, resp.StatusCode, b)
	}
	if n := counter(t, r.c, "wspush_console_logins_total", "limited"); n != 1 {
		t.Fatalf("limited logins counted %v", n)
	}
	// The window passes: the right key works again.
	r.c.gate.now = func() time.Time { return time.Now().Add(LoginWindow + time.Second) }
	r.login(`{"key":"` + apiKey + `"}`)
}

func TestLimiterStaysBounded(t *testing.T) {
	var l limiter
	l.m = map[string]*attempts{}
	now := time.Now()
	for i := range LimiterEntries + 100 {
		l.failed("10.0.0."+strconv.Itoa(i), now)
	}
	if l.size() != LimiterEntries {
		t.Fatalf("limiter holds %d", l.size())
	}
	// The addresses past the cap share one entry, which fills up.
	for range LoginFailures {
		l.failed("192.0.2.1", now)
	}
	if l.blocked("192.0.2.77", now) == 0 {
		t.Fatal("an unknown address past the cap is not limited with the others")
	}
}

func TestNamedOperatorsAreInTheAuditLog(t *testing.T) {
	h, _ := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	path := filepath.Join(t.TempDir(), "users")
	os.WriteFile(path, []byte("# operators\nalice admin "+string(h)+"\nbob viewer "+string(h)+"\n"), 0o600)
	us, err := ReadUsers(path)
	if err != nil || len(us) != 2 {
		t.Fatal(us, err)
	}
	r := newRig(t, Config{Users: us})
	if resp, _ := r.do("POST", "/console/api/login", `{"user":"alice","password":"nope"}`, "", "", ""); resp.StatusCode != 401 {
		t.Fatal("a wrong password logged in")
	}
	if resp, _ := r.do("POST", "/console/api/login", `{"user":"mallory","password":"`+password+`"}`, "", "", ""); resp.StatusCode != 401 {
		t.Fatal("an unknown user logged in")
	}
	cookie, csrf := r.login(`{"user":"alice","password":"` + password + `"}`)
	r.do("POST", "/console/api/users/u9/kick", `{"reason":"lost phone"}`, cookie, csrf, "")
	_, b := r.do("GET", "/console/api/audit", "", cookie, "", "")
	if !strings.Contains(b, `"who":"alice","role":"admin"`) || !strings.Contains(b, `"reason":"lost phone"`) {
		t.Fatalf("audit: %s", b)
	}
	if !strings.Contains(r.logs.String(), `"who":"alice"`) {
		t.Fatal("the structured log does not name alice")
	}
	for _, bad := range []string{"alice root " + string(h), "alice admin plaintext", "alice admin"} {
		os.WriteFile(path, []byte(bad+"\n"), 0o600)
		if _, err := ReadUsers(path); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDevelopmentModeOpensWithoutLoginButStillNeedsTheToken(t *testing.T) {
	r := newRig(t, Config{})
	resp, b := r.do("GET", "/console/api/session", "", "", "", "")
	var si sessionInfo
	_ = json.Unmarshal([]byte(b), &si)
	if resp.StatusCode != 200 || !si.Development || si.Role != RoleAdmin || si.CSRF == "" {
		t.Fatalf("session: %d %s", resp.StatusCode, b)
	}
	if resp, _ := r.do("POST", "/console/api/users/u/kick", `{}`, "", "", ""); resp.StatusCode != 403 {
		t.Fatalf("an action without the token: %d", resp.StatusCode)
	}
	if resp, _ := r.do("POST", "/console/api/users/u/kick", `{}`, "", si.CSRF, ""); resp.StatusCode != 200 {
		t.Fatalf("an action with it: %d", resp.StatusCode)
	}
}

func TestBadInputGetsAReason(t *testing.T) {
	r := newRig(t, Config{})
	_, b := r.do("GET", "/console/api/session", "", "", "", "")
	var si sessionInfo
	_ = json.Unmarshal([]byte(b), &si)
	cases := []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/console/api/users/u/push", `{}`, 400},
		{"POST", "/console/api/users/u/push", `{"data":null}`, 400},
		{"POST", "/console/api/users/u/push", `not json`, 400},
		{"POST", "/console/api/users/u/kick", `{"reason":"` + strings.Repeat("x", 200) + `"}`, 400},
		{"GET", "/console/api/connections?order=sideways", ``, 400},
		{"GET", "/console/api/connections?limit=-1", ``, 400},
		{"GET", "/console/api/connections/abc", ``, 400},
		{"GET", "/console/api/connections/7", ``, 404},
		{"GET", "/console/api/nothing", ``, 404},
		{"GET", "/console/api/rooms?limit=0", ``, 400},
		{"GET", "/console/api/rooms/r?limit=5000", ``, 400},
	}
	for _, c := range cases {
		resp, body := r.do(c.method, c.path, c.body, "", si.CSRF, "")
		if resp.StatusCode != c.status || !strings.Contains(body, `"message"`) {
			t.Errorf("%s %s: %d %s", c.method, c.path, resp.StatusCode, body)
		}
	}
}

func TestTailCostsOneLoadWhenNobodyWatchesAndSamples(t *testing.T) {
	var tl Tail
	if tl.On() {
		t.Fatal("on with nobody watching")
	}
	w := tl.watch(TailFilter{Types: map[string]bool{"push": true}})
	if !tl.On() {
		t.Fatal("off with a watcher")
	}
	now := time.Now()
	for range TailRate + 50 {
		tl.Emit(Event{T: now, Type: "push"})
		tl.Emit(Event{T: now, Type: "connect"}) // filtered out
	}
	if len(w.ch) != TailRate || w.drops.Load() != 50 {
		t.Fatalf("kept %d, dropped %d", len(w.ch), w.drops.Load())
	}
	tl.unwatch(w)
	if tl.On() {
		t.Fatal("on after the last watcher left")
	}
	for range TailWatchers {
		if tl.watch(TailFilter{}) == nil {
			t.Fatal("refused below the cap")
		}
	}
	if tl.watch(TailFilter{}) != nil {
		t.Fatal("a watcher past the cap")
	}
}

func BenchmarkTailOffOnTheHotPath(b *testing.B) {
	var tl Tail
	n := 0
	for b.Loop() {
		if tl.On() {
			n++
		}
	}
	_ = n
}

func TestQuantile(t *testing.T) {
	bounds := []float64{0.001, 0.01, 0.1}
	if q := quantile(0.5, []uint64{0, 0, 0}, bounds); q != nil {
		t.Fatal("a quantile of nothing")
	}
	q := quantile(0.5, []uint64{10, 20, 20}, bounds)
	if q == nil || *q < 0.9 || *q > 1.1 {
		t.Fatalf("p50 %v ms, want 1", q)
	}
}

// counter reads the console's series name{result=label} through a
// pedantic registry, which also checks the collector's descriptions.
func counter(t *testing.T, c *Console, name, result string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{result=%q}", name, result)
	return 0
}

package server

import (
	"bufio"
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"
)

// testSecret is a JWT secret long enough for HS256 (MinJWTSecret).
const testSecret = "0123456789abcdef0123456789abcdef-test"

// logBuf collects a server's logs for a test to read.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestDevelopmentModeOffLoopbackRefusesToStart(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.0.2.1:0"} {
		err := New(Config{Addr: addr}).Serve()
		if err == nil || !strings.Contains(err.Error(), "--jwt-secret") || !strings.Contains(err.Error(), "--insecure") ||
			!strings.Contains(err.Error(), "127.0.0.1") {
			t.Fatalf("%s without a secret: %v, want a refusal naming the fixes", addr, err)
		}
	}
	for _, c := range []Config{
		{Addr: "0.0.0.0:0", JWTSecret: testSecret},
		{Addr: "0.0.0.0:0", Insecure: true},
		{Addr: "0.0.0.0:0", Echo: true},
		{Addr: "127.0.0.1:0"},
		{Addr: "localhost:0"},
		{Addr: "[::1]:0"},
		{},
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if got := New(Config{}).Config().Addr; got != "127.0.0.1:8080" {
		t.Errorf("default addr %q, want loopback", got)
	}
}

func TestDevelopmentModeIsLoudAndReported(t *testing.T) {
	var logs logBuf
	s := startServer(t, Config{APIAddr: "127.0.0.1:0", Logger: logs.logger()})
	if !strings.Contains(logs.String(), "DEVELOPMENT MODE") {
		t.Fatalf("no development mode warning in %s", logs.String())
	}
	var st Stats
	newAPIClient(t, s, "").do("GET", "/v1/stats", "", &st)
	if st.Auth != AuthDevelopment {
		t.Fatalf("stats auth %q, want development", st.Auth)
	}
	var health map[string]string
	newAPIClient(t, s, "").do("GET", "/healthz", "", &health)
	if health["auth"] != AuthDevelopment || health["status"] != "ok" {
		t.Fatalf("healthz %v, want it to say development", health)
	}

	var jlogs logBuf
	s = startServer(t, Config{APIAddr: "127.0.0.1:0", JWTSecret: testSecret, Logger: jlogs.logger()})
	newAPIClient(t, s, "").do("GET", "/v1/stats", "", &st)
	if st.Auth != AuthJWT || strings.Contains(jlogs.String(), "DEVELOPMENT") {
		t.Fatalf("stats auth %q, logs %s", st.Auth, jlogs.String())
	}
	health = nil
	newAPIClient(t, s, "").do("GET", "/healthz", "", &health)
	if _, ok := health["auth"]; ok {
		t.Fatalf("healthz %v with a JWT secret", health)
	}
}

// rawAPI sends one raw HTTP/1.1 request to s's API and returns the status.
func rawAPI(t *testing.T, s *Server, req string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", s.APIAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	rsp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%q: %v", req, err)
	}
	defer rsp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(rsp.Body)
	return rsp.StatusCode, b.String()
}

func TestKeylessAPIAnswersOnlyLoopbackHostsAndJSONPosts(t *testing.T) {
	s := startServer(t, Config{APIAddr: "127.0.0.1:0"})
	alice := apiDialUser(t, s, "alice")
	push := `{"users":["alice"],"data":"otp 123456"}`
	post := func(host, ctype string) string {
		r := "POST /v1/push HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n"
		if ctype != "" {
			r += "Content-Type: " + ctype + "\r\n"
		}
		return r + "Content-Length: " + strconv.Itoa(len(push)) + "\r\n\r\n" + push
	}
	for _, tc := range []struct {
		name, req string
		status    int
	}{
		// A page on rebind.example whose name now resolves to 127.0.0.1.
		{"ReboundName", post("rebind.example:8081", "application/json"), http.StatusForbidden},
		{"ReboundNameGET", "GET /v1/stats HTTP/1.1\r\nHost: rebind.example\r\nConnection: close\r\n\r\n", http.StatusForbidden},
		// What a cross-site form or a "simple" fetch can send.
		{"FormPost", post("127.0.0.1:8081", "application/x-www-form-urlencoded"), http.StatusUnsupportedMediaType},
		{"TextPost", post("localhost:8081", "text/plain"), http.StatusUnsupportedMediaType},
		{"NoType", post("localhost", ""), http.StatusUnsupportedMediaType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := rawAPI(t, s, tc.req)
			if status != tc.status || !strings.Contains(body, `"error":`) {
				t.Fatalf("status %d body %s, want %d", status, body, tc.status)
			}
		})
	}
	if _, _, err := alice.tryRead(200 * time.Millisecond); err == nil {
		t.Fatal("a refused request reached alice")
	}
	for _, host := range []string{"127.0.0.1:1", "localhost", "[::1]:8081"} {
		if status, body := rawAPI(t, s, post(host, "application/json; charset=utf-8")); status != 200 {
			t.Fatalf("Host %s: %d %s", host, status, body)
		}
		alice.expectPushData(`"otp 123456"`, "")
	}

	// With a key, the key is the guard: any Host, any Content-Type.
	k := startServer(t, Config{APIAddr: "127.0.0.1:0", APIKey: testAPIKey})
	req := "POST /v1/push HTTP/1.1\r\nHost: push.internal\r\nAuthorization: Bearer " + testAPIKey +
		"\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(push)) + "\r\n\r\n" + push
	if status, body := rawAPI(t, k, req); status != 200 {
		t.Fatalf("keyed: %d %s", status, body)
	}
}

var errTooEarly = errors.New("not yet")

func TestTokenAudienceIssuerAndRequiredExp(t *testing.T) {
	s := startServer(t, Config{JWTSecret: testSecret, JWTAudience: "wspush", JWTIssuer: "https://auth.example.com", JWTRequireExp: true})
	exp := jwt.NewNumericDate(time.Now().Add(time.Hour))
	good := jwt.RegisteredClaims{Subject: "alice", Audience: jwt.ClaimStrings{"other", "wspush"}, Issuer: "https://auth.example.com", ExpiresAt: exp}
	c, w := dialAs(t, s, "?token="+token(t, testSecret, Claims{RegisteredClaims: good}), "")
	if w["user"] != "alice" {
		t.Fatalf("welcome %v", w)
	}
	c.sendJSON(`{"type":"ping"}`)
	c.expectJSON("pong")
	for _, tc := range []struct {
		name   string
		change func(*jwt.RegisteredClaims)
		reason string
	}{
		{"WrongAudience", func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{"billing"} }, "aud"},
		{"NoAudience", func(c *jwt.RegisteredClaims) { c.Audience = nil }, "aud"},
		{"WrongIssuer", func(c *jwt.RegisteredClaims) { c.Issuer = "https://evil.example" }, "iss"},
		{"NoExp", func(c *jwt.RegisteredClaims) { c.ExpiresAt = nil }, "exp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			claims := good
			tc.change(&claims)
			c := dial(t, s)
			c.write([]byte(upgradeRequest("/ws?token=" + token(t, testSecret, Claims{RegisteredClaims: claims}))))
			_, body := c.expectStatus(http.StatusUnauthorized)
			if !strings.Contains(body, tc.reason) {
				t.Fatalf("body %s, want the reason to name %s", body, tc.reason)
			}
		})
	}
}

func TestShortJWTSecretIsRefused(t *testing.T) {
	err := New(Config{JWTSecret: "s3cret"}).Serve()
	if err == nil || !strings.Contains(err.Error(), "32") {
		t.Fatalf("a 6-byte secret: %v", err)
	}
}

func TestNamesRefuseInvisibleCharacters(t *testing.T) {
	s := startServer(t, Config{})
	for _, name := range []string{
		"alice\u200b", // zero width space (Cf)
		"alice\u0085", // next line (Cc)
		"\u202eecila", // right-to-left override (Cf)
		"ali\u2028ce", // line separator (Zl)
		"ali\u2029ce", // paragraph separator (Zp)
		"alice\u00a0", // no-break space (Zs)
		"alice\u2066", // left-to-right isolate (Cf)
		"alice\ufeff", // byte order mark (Cf)
		"alice\u3164", // Hangul filler: a letter that shows nothing
		"alice\ue000", // private use (Co)
		"alice\u0378", // unassigned (Cn)
	} {
		c := dial(t, s)
		c.write([]byte(upgradeRequest("/ws?user=" + url.QueryEscape(name))))
		if _, body := c.expectStatus(http.StatusBadRequest); !strings.Contains(body, "user ids") {
			t.Fatalf("%q: %s", name, body)
		}
	}
	// The same rule holds for rooms, and visible names of any script pass.
	c, _ := dialAs(t, s, "?user="+url.QueryEscape("Zoë 李雷 ❤️"), "")
	c.sendJSON(`{"type":"join","room":"news\u200b","ref":1}`)
	if m := c.expectJSON("error"); m["code"] != "bad_request" {
		t.Fatalf("join of an invisible room name: %v", m)
	}
	c.sendJSON(`{"type":"join","room":"新闻 news","ref":2}`)
	c.expectJSON("ack")
}

func TestOriginPatternWithoutSchemeNeedsHTTPS(t *testing.T) {
	s := startServer(t, Config{Origins: []string{"*.example.com", "localhost:*", "http://legacy.example.org"}})
	for _, tc := range []struct {
		origin string
		status int
	}{
		{"https://app.example.com", 101},
		{"http://app.example.com", 403}, // anyone on the path can rewrite a plain http page
		{"ws://app.example.com", 403},
		{"wss://app.example.com", 403},
		{"http://localhost:3000", 101}, // development on this machine
		{"https://localhost:3000", 101},
		{"http://legacy.example.org", 101}, // the scheme was named
		{"https://legacy.example.org", 403},
		{"null", 403},
	} {
		c := dial(t, s)
		c.write([]byte(strings.Replace(upgradeRequest("/ws"), "\r\n\r\n", "\r\nOrigin: "+tc.origin+"\r\n\r\n", 1)))
		c.expectStatus(tc.status)
	}
}

func TestForwardedAddressBelievedOnlyFromTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		proxies []netip.Prefix
		header  string
		ip      string
	}{
		// A direct client writes what it likes: not believed.
		{"Untrusted", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, "X-Real-IP: 203.0.113.7", ""},
		{"TrustNobody", []netip.Prefix{}, "X-Forwarded-For: 203.0.113.7", ""},
		{"RealIP", nil, "X-Real-IP: 203.0.113.7", "203.0.113.7"},
		// The client wrote 1.2.3.4; the proxies appended what they saw.
		{"RightMostUntrusted", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")},
			"X-Forwarded-For: 1.2.3.4, 203.0.113.9, 10.0.0.5\r\nX-Real-IP: 1.2.3.4", "203.0.113.9"},
		{"TwoHeaders", nil, "X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 198.51.100.2", "198.51.100.2"},
		{"Garbage", nil, "X-Forwarded-For: 203.0.113.9, nonsense", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, nil)
			s := startServer(t, Config{TrustedProxies: tc.proxies, Webhook: WebhookConfig{
				URL: rc.srv.URL, Secret: testWebhookSecret, Events: []string{"connect"}, Delay: 10 * time.Millisecond,
			}})
			dialAs(t, s, "?user=alice", tc.header)
			ev := rc.waitEvents(1)[0]
			if ev.IP != tc.ip {
				t.Fatalf("ip %q, want %q", ev.IP, tc.ip)
			}
		})
	}
}

func TestWebhookFollowsNoRedirect(t *testing.T) {
	var stolen sync.Map
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen.Store("sig", r.Header.Get(WebhookSignatureHeader))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(elsewhere.Close)
	var calls sync.Map
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Store("n", true)
		http.Redirect(w, r, elsewhere.URL+"/collect", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(hook.Close)
	s := startServer(t, Config{Webhook: WebhookConfig{URL: hook.URL, Secret: testWebhookSecret, Events: []string{"connect"}, Delay: 10 * time.Millisecond}})
	dialAs(t, s, "?user=alice", "")
	waitFor(t, 5*time.Second, func() error {
		if s.hook.Counters().Failed == 0 {
			return errTooEarly
		}
		return nil
	})
	if _, ok := calls.Load("n"); !ok {
		t.Fatal("the webhook was never called")
	}
	if sig, ok := stolen.Load("sig"); ok {
		t.Fatalf("the redirect was followed, carrying signature %q", sig)
	}
}

func TestSecretsStayOutOfLogs(t *testing.T) {
	var logs logBuf
	// A webhook that refuses: its failure is logged with the URL.
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) }))
	t.Cleanup(hook.Close)
	u, _ := url.Parse(hook.URL)
	u.User = url.UserPassword("wspush", "hunter2-PASS")
	u.Path, u.RawQuery = "/hook", "token=QUERY-SECRET"
	s := startServer(t, Config{Logger: logs.logger(), Webhook: WebhookConfig{URL: u.String(), Events: []string{"connect"}, Delay: 10 * time.Millisecond, Retries: -1}})
	dialAs(t, s, "?user=alice", "")
	waitFor(t, 5*time.Second, func() error {
		if !strings.Contains(logs.String(), "events not delivered") {
			return errTooEarly
		}
		return nil
	})
	out := logs.String()
	if strings.Contains(out, "hunter2") || strings.Contains(out, "QUERY-SECRET") {
		t.Fatalf("a secret in the logs:\n%s", out)
	}
	if !strings.Contains(out, "has no --webhook-secret") {
		t.Fatalf("no warning about the unsigned webhook:\n%s", out)
	}

	// A refused connection to the webhook: the HTTP client's error names the URL.
	dead := "http://u:hunter2-PASS@" + refusedAddr(t) + "/hook?token=QUERY-SECRET"
	var logs2 logBuf
	s = startServer(t, Config{Logger: logs2.logger(), Webhook: WebhookConfig{URL: dead, Secret: testWebhookSecret, Events: []string{"connect"}, Delay: 10 * time.Millisecond, Retries: -1}})
	dialAs(t, s, "?user=alice", "")
	waitFor(t, 5*time.Second, func() error {
		if !strings.Contains(logs2.String(), "events not delivered") {
			return errTooEarly
		}
		return nil
	})
	if out := logs2.String(); strings.Contains(out, "hunter2") || strings.Contains(out, "QUERY-SECRET") {
		t.Fatalf("a secret in the logs:\n%s", out)
	}

	// A bad --redis URL's error.
	for _, bad := range []string{"redis://u:hunter2-PASS@host:port/0", "redis://:hunter2-PASS@h:6379/x", "redis://u:hunter2%zzPASS@h:6379/0", "redis://u:hunter2-PASS@h:6379/notadb"} {
		err := Config{Redis: bad}.Validate()
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("Validate(%q): %v", bad, err)
		}
	}
	if err := (Config{Webhook: WebhookConfig{URL: "ftp://u:hunter2-PASS@h/x"}}).Validate(); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("webhook Validate: %v", err)
	}
}

func TestRedisWithoutPasswordWarns(t *testing.T) {
	warned := func(c Config) bool {
		for _, w := range c.TrustWarnings() {
			if strings.Contains(w, "has no password") {
				return true
			}
		}
		return false
	}
	if !warned(Config{Redis: "redis://127.0.0.1:1/0"}) {
		t.Fatal("no warning for a Redis without a password")
	}
	if warned(Config{Redis: "redis://:pw@127.0.0.1:1/0"}) {
		t.Fatal("a warning with a password")
	}
	for _, w := range (Config{Redis: "redis://user@10.0.0.5:6379/0?dial_timeout=1s"}).TrustWarnings() {
		if !strings.Contains(w, "redis://user@10.0.0.5:6379/0?dial_timeout=redacted") && strings.Contains(w, "redis") {
			t.Fatalf("warning %q", w)
		}
	}
}

// The checks that held before issue 13 keep holding.
func TestTokenAlgorithmsOtherThanHS256AreRefused(t *testing.T) {
	s := startServer(t, Config{JWTSecret: testSecret})
	claims := Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice"}}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, claims).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{none, hs512} {
		c := dial(t, s)
		c.write([]byte(upgradeRequest("/ws?token=" + tok)))
		c.expectStatus(http.StatusUnauthorized)
	}
	c := dial(t, s)
	c.write([]byte(upgradeRequest("/ws?token=" + token(t, testSecret, claims))))
	c.expectStatus(http.StatusSwitchingProtocols)
	c.send(ws.OpClose, nil)
}

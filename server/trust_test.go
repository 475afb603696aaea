package server

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/wstest"
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
		err := New(Config{ConnConfig: ConnConfig{Addr: addr}}).Serve()
		if err == nil || !strings.Contains(err.Error(), "--jwt-secret") || !strings.Contains(err.Error(), "--insecure") ||
			!strings.Contains(err.Error(), "127.0.0.1") {
			t.Fatalf("%s without a secret: %v, want a refusal naming the fixes", addr, err)
		}
	}
	for _, c := range []Config{
		{ConnConfig: ConnConfig{Addr: "0.0.0.0:0"}, JWTSecret: testSecret},
		{ConnConfig: ConnConfig{Addr: "0.0.0.0:0"}, Insecure: true},
		{ConnConfig: ConnConfig{Addr: "0.0.0.0:0", Echo: true}},
		{ConnConfig: ConnConfig{Addr: "127.0.0.1:0"}},
		{ConnConfig: ConnConfig{Addr: "localhost:0"}},
		{ConnConfig: ConnConfig{Addr: "[::1]:0"}},
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
	s := startServer(t, Config{ConnConfig: ConnConfig{Logger: logs.logger()}, APIAddr: "127.0.0.1:0"})
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
}

// TestJWTModeIsQuiet: with a secret, no development warning, and health
// does not report the mode.
func TestJWTModeIsQuiet(t *testing.T) {
	var jlogs logBuf
	s := startServer(t, Config{ConnConfig: ConnConfig{Logger: jlogs.logger()}, APIAddr: "127.0.0.1:0", JWTSecret: testSecret})
	var st Stats
	var health map[string]string
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

// errTooEarly is what a waitFor condition answers until it holds.
var errTooEarly = errors.New("not yet")

func TestSecretsStayOutOfLogs(t *testing.T) {
	var logs logBuf
	// A webhook that refuses: its failure is logged with the URL.
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusForbidden) }))
	t.Cleanup(hook.Close)
	u, _ := url.Parse(hook.URL)
	u.User = url.UserPassword("wspush", "hunter2-PASS")
	u.Path, u.RawQuery = "/hook", "token=QUERY-SECRET"
	s := startServer(t, Config{ConnConfig: ConnConfig{Logger: logs.logger()}, Webhook: WebhookConfig{URL: u.String(), Events: []string{"connect"}, Delay: 10 * time.Millisecond, Retries: -1}})
	apiDialUser(t, s, "alice")
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
	dead := "http://u:hunter2-PASS@" + wstest.RefusedAddr(t) + "/hook?token=QUERY-SECRET"
	var logs2 logBuf
	s = startServer(t, Config{ConnConfig: ConnConfig{Logger: logs2.logger()}, Webhook: WebhookConfig{URL: dead, Secret: testWebhookSecret, Events: []string{"connect"}, Delay: 10 * time.Millisecond, Retries: -1}})
	apiDialUser(t, s, "alice")
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

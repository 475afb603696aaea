package webhook

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/goleak"
)

// The webhook's tests run it against a backend on an httptest server,
// with the Deps a test chooses. They wait for what the backend receives on
// a channel, or for Close, after which the sender has stopped and the
// counters say all that happened.

const testSecret = "hook-secret"

// posted is an event as a backend decodes it (docs/webhook.md).
type posted struct {
	ID, Type, Conn, User, Room, To, Reason, Remote, IP string
	TS                                                 int64
	Data                                               json.RawMessage
	DataBase64                                         string `json:"data_base64"`
}

// request is one POST as the backend received it.
type request struct {
	body     []byte
	ts, sig  string // the TimestampHeader and SignatureHeader
	sent     int64
	events   []posted
	answered int // the status the backend gave
}

// backend is a backend's webhook endpoint. It checks each signature as
// docs/webhook.md tells backends to, answers the nth request (from 1)
// with status(n) (nil: 204), and passes every request on to reqs.
type backend struct {
	t      *testing.T
	url    string
	status func(n int) int
	reqs   chan request

	mu sync.Mutex
	n  int
}

// newBackend starts a backend for the length of the test, and checks on
// cleanup, after it and the webhook stopped, that no goroutine was left.
func newBackend(t *testing.T, status func(n int) int) *backend {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	b := &backend{t: t, status: status, reqs: make(chan request, 1000)}
	srv := httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(srv.Close)
	b.url = srv.URL + "/hook"
	return b
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	req := request{body: body, ts: r.Header.Get(TimestampHeader), sig: r.Header.Get(SignatureHeader)}
	// A recent timestamp, then HMAC-SHA256 of it, a dot and the raw
	// body, hex, compared in constant time.
	if sec, err := strconv.ParseInt(req.ts, 10, 64); err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		b.t.Errorf("timestamp %q, want the current Unix time", req.ts)
	}
	want := "sha256=" + Sign([]byte(testSecret), req.ts, body)
	if !hmac.Equal([]byte(req.sig), []byte(want)) {
		b.t.Errorf("signature %q, want %q", req.sig, want)
	}
	var batch struct {
		Sent   int64
		Events []posted
	}
	if err := json.Unmarshal(body, &batch); err != nil || batch.Sent == 0 {
		b.t.Errorf("bad batch %s: %v", body, err)
	}
	req.sent, req.events = batch.Sent, batch.Events
	b.mu.Lock()
	b.n++
	req.answered = http.StatusNoContent
	if b.status != nil {
		req.answered = b.status(b.n)
	}
	b.mu.Unlock()
	w.WriteHeader(req.answered)
	b.reqs <- req
}

// next returns the next request, failing the test after 5 s without one.
func (b *backend) next() request {
	b.t.Helper()
	select {
	case r := <-b.reqs:
		return r
	case <-time.After(5 * time.Second):
		b.t.Fatal("no request in 5 s")
		return request{}
	}
}

// events returns the events of the requests answered 2xx, waiting for n.
func (b *backend) events(n int) []posted {
	b.t.Helper()
	var evs []posted
	for len(evs) < n {
		if r := b.next(); r.answered/100 == 2 {
			evs = append(evs, r.events...)
		}
	}
	return evs
}

// quiet fails the test if a request is waiting: once the webhook has
// closed, whatever it sent has arrived.
func (b *backend) quiet() {
	b.t.Helper()
	select {
	case r := <-b.reqs:
		b.t.Fatalf("one request more: %s", r.body)
	default:
	}
}

// startHook starts the webhook for cfg (signed with testSecret) and deps,
// and closes it on cleanup.
func startHook(t *testing.T, cfg Config, deps Deps) *Webhook {
	t.Helper()
	cfg.Secret = testSecret
	w := New(cfg, deps)
	w.Start()
	t.Cleanup(func() { w.Close(context.Background()) })
	return w
}

// closeHook closes w, sending what it holds: from then on its counters
// stay as they are.
func closeHook(w *Webhook) { w.Close(context.Background()) }

// metrics is the Prometheus text form of w's collector.
func metrics(t *testing.T, w *Webhook) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(w.Collector())
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// hasMetric reports whether the text form text has the sample line.
func hasMetric(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

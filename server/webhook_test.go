package server

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/wspush/wspush/server/internal/webhook"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

const testWebhookSecret = "hook-secret"

// hookEvent is an event as the backend decodes it.
type hookEvent struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	TS         int64           `json:"ts"`
	Conn       string          `json:"conn"`
	User       string          `json:"user"`
	Room       string          `json:"room"`
	To         string          `json:"to"`
	Reason     string          `json:"reason"`
	Remote     string          `json:"remote"`
	IP         string          `json:"ip"`
	Data       json.RawMessage `json:"data"`
	DataBase64 string          `json:"data_base64"`
}

// receiver is a backend's webhook endpoint: it verifies each request's
// signature as docs/api.md tells backends to, and keeps the events of the
// requests it answers 2xx.
type receiver struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	events  []hookEvent
	calls   int
	statusF func(call int) int // the status of the nth request (from 1); nil: 204
}

func newReceiver(t *testing.T, statusF func(call int) int) *receiver {
	rc := &receiver{t: t, statusF: statusF}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	// Verify as a backend does: a recent timestamp, then HMAC-SHA256 of
	// it, a dot and the raw body, hex, compared in constant time.
	ts := r.Header.Get(WebhookTimestampHeader)
	if sec, err := strconv.ParseInt(ts, 10, 64); err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		rc.t.Errorf("timestamp %q, want the current Unix time", ts)
	}
	got := strings.TrimPrefix(r.Header.Get(WebhookSignatureHeader), "sha256=")
	want := Sign([]byte(testWebhookSecret), ts, body)
	if !hmac.Equal([]byte(got), []byte(want)) {
		rc.t.Errorf("signature %q, want %q", got, want)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var batch struct {
		Sent   int64       `json:"sent"`
		Events []hookEvent `json:"events"`
	}
	if err := json.Unmarshal(body, &batch); err != nil || batch.Sent == 0 {
		rc.t.Errorf("bad batch %s: %v", body, err)
	}
	rc.mu.Lock()
	rc.calls++
	status := http.StatusNoContent
	if rc.statusF != nil {
		status = rc.statusF(rc.calls)
	}
	if status/100 == 2 {
		rc.events = append(rc.events, batch.Events...)
	}
	rc.mu.Unlock()
	w.WriteHeader(status)
}

// got returns the events received so far.
func (rc *receiver) got() []hookEvent {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hookEvent(nil), rc.events...)
}

// waitEvents waits until n events have arrived and returns them.
func (rc *receiver) waitEvents(n int) []hookEvent {
	rc.t.Helper()
	waitFor(rc.t, 5*time.Second, func() error {
		if got := len(rc.got()); got < n {
			return fmt.Errorf("%d events, want %d", got, n)
		}
		return nil
	})
	return rc.got()
}

func TestWebhookGetsEveryEventOnceSigned(t *testing.T) {
	rc := newReceiver(t, nil)
	s := startServer(t, Config{APIAddr: "127.0.0.1:0", Webhook: WebhookConfig{
		URL: rc.srv.URL, Secret: testWebhookSecret,
		Events: []string{"connect", "disconnect", "publish", "send", "binary"},
		Delay:  20 * time.Millisecond,
	}})
	alice, _ := dialAs(t, s, "?user=alice", "X-Real-IP: 203.0.113.7")
	bob, _ := dialAs(t, s, "?user=bob", "")
	alice.sendJSON(`{"type":"join","room":"lobby","ref":1}`)
	alice.expectJSON("ack")
	alice.sendJSON(`{"type":"publish","room":"lobby","data":{"text":"hi all"},"ref":2}`)
	alice.expectJSON("ack")
	alice.expectJSON("push")
	alice.sendJSON(`{"type":"send","to":"bob","data":"hi bob","ref":3}`)
	alice.expectJSON("ack")
	bob.expectJSON("push")
	alice.sendJSON(`{"type":"publish","room":"x","ref":4}`) // refused: no event
	alice.expectJSON("error")
	alice.send(ws.OpBinary, []byte{0, 1, 2, 0xff})
	bob.send(ws.OpClose, []byte{0x03, 0xe8})
	bob.expectClose(1000)

	evs := rc.waitEvents(6)
	byType := map[string][]hookEvent{}
	ids := map[string]bool{}
	for _, e := range evs {
		if ids[e.ID] {
			t.Errorf("event id %s twice", e.ID)
		}
		ids[e.ID] = true
		if e.TS == 0 || !strings.HasPrefix(e.Conn, "c") {
			t.Errorf("event %+v lacks ts or conn", e)
		}
		byType[e.Type] = append(byType[e.Type], e)
	}
	want := map[string]int{"connect": 2, "publish": 1, "send": 1, "binary": 1, "disconnect": 1}
	for typ, n := range want {
		if len(byType[typ]) != n {
			t.Errorf("%d %s events, want %d: %+v", len(byType[typ]), typ, n, evs)
		}
	}
	if len(evs) != 6 {
		t.Fatalf("%d events, want 6: %+v", len(evs), evs)
	}
	if c := byType["connect"][0]; c.User != "alice" || c.IP != "203.0.113.7" || !strings.HasPrefix(c.Remote, "127.0.0.1:") {
		t.Errorf("connect %+v", c)
	}
	if p := byType["publish"][0]; p.User != "alice" || p.Room != "lobby" || string(p.Data) != `{"text":"hi all"}` {
		t.Errorf("publish %+v", p)
	}
	if p := byType["send"][0]; p.User != "alice" || p.To != "bob" || string(p.Data) != `"hi bob"` {
		t.Errorf("send %+v", p)
	}
	if b := byType["binary"][0]; b.DataBase64 != base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 0xff}) {
		t.Errorf("binary %+v", b)
	}
	if d := byType["disconnect"][0]; d.User != "bob" || d.Reason != "peer_close" {
		t.Errorf("disconnect %+v", d)
	}
	// Nothing more comes, and what came was counted.
	time.Sleep(100 * time.Millisecond)
	if n := len(rc.got()); n != 6 {
		t.Fatalf("%d events, want 6", n)
	}
	if s.hook.Counters().Sent != 6 || s.hook.Counters().Dropped != 0 || s.hook.Counters().Failed != 0 {
		t.Errorf("sent %d dropped %d failed %d", s.hook.Counters().Sent, s.hook.Counters().Dropped, s.hook.Counters().Failed)
	}
	_, _, metrics := newAPIClient(t, s, "").call("GET", "/metrics", "")
	if !strings.Contains(metrics, `wspush_webhook_events_total{result="sent"} 6`) {
		t.Errorf("metrics lack the webhook's sent events:\n%s", grepLines(metrics, "wspush_webhook"))
	}
}

func TestWebhookDefaultEventsLeaveOutBinary(t *testing.T) {
	rc := newReceiver(t, nil)
	s := startServer(t, Config{Webhook: WebhookConfig{URL: rc.srv.URL, Secret: testWebhookSecret, Delay: 10 * time.Millisecond}})
	c, _ := dialAs(t, s, "?user=alice", "")
	c.send(ws.OpBinary, []byte("opaque"))
	c.sendJSON(`{"type":"send","to":"bob","data":1}`)
	evs := rc.waitEvents(2)
	if evs[0].Type != "connect" || evs[1].Type != "send" {
		t.Fatalf("events %+v, want connect and send", evs)
	}
}

func TestWebhookRetriesAfter500(t *testing.T) {
	rc := newReceiver(t, func(call int) int {
		if call == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	s := startServer(t, Config{Webhook: WebhookConfig{URL: rc.srv.URL, Secret: testWebhookSecret, Delay: 10 * time.Millisecond}})
	dialAs(t, s, "?user=alice", "")
	evs := rc.waitEvents(1)
	if len(evs) != 1 || evs[0].Type != "connect" || evs[0].User != "alice" {
		t.Fatalf("events %+v, want alice's connect once", evs)
	}
	if r := s.hook.Counters().Retries; r != 1 {
		t.Fatalf("%d retries, want 1", r)
	}
	if n := s.hook.Counters().Requests[2]; n != 1 {
		t.Fatalf("%d 5xx answers counted, want 1", n)
	}
}

func TestWebhookGivesUpOn4xx(t *testing.T) {
	rc := newReceiver(t, func(int) int { return http.StatusBadRequest })
	s := startServer(t, Config{Webhook: WebhookConfig{URL: rc.srv.URL, Secret: testWebhookSecret, Delay: 10 * time.Millisecond}})
	dialAs(t, s, "?user=alice", "")
	waitFor(t, 5*time.Second, func() error {
		if s.hook.Counters().Failed != 1 {
			return fmt.Errorf("failed %d, want 1", s.hook.Counters().Failed)
		}
		return nil
	})
	if s.hook.Counters().Retries != 0 {
		t.Fatalf("a 400 was retried")
	}
}

// refusedAddr is a loopback address where connections are refused for as
// long as the test runs: a socket bound to a port of the kernel's choosing
// that never listens, which also keeps any other process from listening
// there. A port picked free and closed again could be taken before the
// test connects to it.
func refusedAddr(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(sa.(*syscall.SockaddrInet4).Port)
}

// A backend that refuses connections or never answers must leave clients,
// pushes and memory alone: events beyond the queue are dropped and counted.
func TestWebhookDeadEndpointLeavesClientsAlone(t *testing.T) {
	refused := "http://" + refusedAddr(t) + "/hook"
	stop := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(stop) })

	for _, tc := range []struct{ name, url string }{
		{"refused", refused},
		{"hanging", hang.URL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const queue, batch = 16, 8
			s := startServer(t, Config{APIAddr: "127.0.0.1:0", MaxRate: -1, Webhook: WebhookConfig{
				URL: tc.url, Queue: queue, Batch: batch, Delay: 5 * time.Millisecond,
				Timeout: 200 * time.Millisecond, Retries: 3,
			}})
			api := newAPIClient(t, s, "")
			alice, _ := dialAs(t, s, "?user=alice", "")
			bob, _ := dialAs(t, s, "?user=bob", "")
			alice.sendJSON(`{"type":"join","room":"r","ref":0}`)
			alice.expectJSON("ack")
			const n = 200
			for i := range n {
				alice.sendJSON(fmt.Sprintf(`{"type":"publish","room":"r","data":%d}`, i))
				alice.expectJSON("push")
				var res PushResult
				api.do("POST", "/v1/push", `{"users":["bob"],"data":"x"}`, &res)
				if res.Delivered != 1 {
					t.Fatalf("push %d delivered %d", i, res.Delivered)
				}
				bob.expectJSON("push")
			}
			if d := s.hook.Counters().Dropped; d < n-2*queue-10 {
				t.Fatalf("dropped %d of %d events: the queue is not bounded", d, n+3)
			}
			// What waits is the queue and the one batch being posted.
			if b := s.hook.Counters().QueueBytes; b > int64(queue+batch)*(webhook.EventOverhead+64) {
				t.Fatalf("queue holds %d bytes", b)
			}
			_, _, metrics := api.call("GET", "/metrics", "")
			if !strings.Contains(metrics, `wspush_webhook_events_total{result="dropped"}`) {
				t.Fatalf("no dropped counter in the metrics")
			}
		})
	}
}

func TestWebhookConfigRefusesUnknownEvents(t *testing.T) {
	err := Config{Webhook: WebhookConfig{URL: "http://127.0.0.1/hook", Events: []string{"publish", "typing"}}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "typing") {
		t.Fatalf("Validate: %v", err)
	}
	if err := (Config{Webhook: WebhookConfig{URL: "ftp://x"}}).Validate(); err == nil {
		t.Fatal("an ftp:// webhook was accepted")
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// The grace runs on a clock the test moves: nothing here depends on how
// fast the machine is.
func TestWebhookOfflineOnceTheGracePasses(t *testing.T) {
	rc := newReceiver(t, nil)
	const grace = time.Minute
	clock := &manualClock{t: time.UnixMilli(1700000000000)}
	s := startServer(t, Config{OfflineGrace: grace, clock: clock.now, Webhook: WebhookConfig{
		URL: rc.srv.URL, Secret: testWebhookSecret, Delay: 10 * time.Millisecond,
		Events: []string{"offline"},
	}})
	bye := func(c *client, user string) {
		c.send(ws.OpClose, []byte{0x03, 0xe8})
		c.expectClose(1000)
		// Gone, and its grace started: online with no connection.
		waitFor(t, time.Second, func() error {
			if p := s.Presence(context.Background(), user); p.Connections != 0 || !p.Online {
				return fmt.Errorf("%s: %+v", user, p)
			}
			return nil
		})
	}
	t0 := clock.get()
	// A reconnect within the grace: not offline.
	a1, _ := dialAs(t, s, "?user=alice", "")
	bye(a1, "alice")
	a2, _ := dialAs(t, s, "?user=alice", "")
	// Bob leaves and stays away.
	b, _ := dialAs(t, s, "?user=bob", "")
	bye(b, "bob")
	clock.set(t0.Add(grace))
	evs := rc.waitEvents(1)
	if evs[0].Type != "offline" || evs[0].User != "bob" || evs[0].Conn != "" || evs[0].TS != t0.Add(grace).UnixMilli() {
		t.Fatalf("events %+v, want bob's offline at the end of his grace", evs)
	}
	// Alice leaves later: her offline comes next, and hers alone (the
	// first close was taken back by her reconnect).
	t1 := t0.Add(2 * grace)
	clock.set(t1)
	bye(a2, "alice")
	clock.set(t1.Add(grace))
	evs = rc.waitEvents(2)
	if len(evs) != 2 || evs[1].Type != "offline" || evs[1].User != "alice" || evs[1].TS != t1.Add(grace).UnixMilli() {
		t.Fatalf("events %+v, want alice's offline second, at the end of her grace", evs)
	}
}

// manualClock is a clock a test sets.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) now() time.Time { return c.get() }

func (c *manualClock) get() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

package server

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	raw     []json.RawMessage // the same events undecoded (receipts_test.go)
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
		var raw struct {
			Events []json.RawMessage `json:"events"`
		}
		_ = json.Unmarshal(body, &raw)
		rc.raw = append(rc.raw, raw.Events...)
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
	alice.SendJSON(`{"type":"join","room":"lobby","ref":1}`)
	alice.ExpectJSON("ack")
	alice.SendJSON(`{"type":"publish","room":"lobby","data":{"text":"hi all"},"ref":2}`)
	alice.ExpectJSON("ack")
	alice.ExpectJSON("push")
	alice.SendJSON(`{"type":"send","to":"bob","data":"hi bob","ref":3}`)
	alice.ExpectJSON("ack")
	bob.ExpectJSON("push")
	alice.SendJSON(`{"type":"publish","room":"x","ref":4}`) // refused: no event
	alice.ExpectJSON("error")
	alice.Send(ws.OpBinary, []byte{0, 1, 2, 0xff})
	bob.Send(ws.OpClose, []byte{0x03, 0xe8})
	bob.ExpectClose(1000)

	// What the clients did, as the backend hears it; the fields of each
	// kind are the webhook package's tests'.
	evs := rc.waitEvents(6)
	var got []string
	for _, e := range evs {
		line := e.Type + " " + e.User
		switch e.Type {
		case "connect":
			line += " ip=" + e.IP + " remote=" + strings.Split(e.Remote, ":")[0]
		case "publish":
			line += " room=" + e.Room + " " + string(e.Data)
		case "send":
			line += " to=" + e.To + " " + string(e.Data)
		case "binary":
			line += " " + e.DataBase64
		case "disconnect":
			line += " " + e.Reason
		}
		if !strings.HasPrefix(e.Conn, "c") {
			line += " without conn"
		}
		got = append(got, line)
	}
	slices.Sort(got)
	want := []string{
		"binary alice " + base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 0xff}),
		"connect alice ip=203.0.113.7 remote=127.0.0.1",
		"connect bob ip= remote=127.0.0.1",
		"disconnect bob peer_close",
		`publish alice room=lobby {"text":"hi all"}`,
		`send alice to=bob "hi bob"`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the backend heard\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Nothing more comes: carol's connect, queued after all of the above
	// had arrived, is the next and last.
	dialAs(t, s, "?user=carol", "")
	if evs := rc.waitEvents(7); len(evs) != 7 || evs[6].Type != "connect" || evs[6].User != "carol" {
		t.Fatalf("events %+v, want carol's connect seventh and last", evs)
	}
	// The sender counts a batch once the backend's answer is read, which
	// may be just after the backend saw it.
	waitFor(t, 5*time.Second, func() error {
		if c := s.hook.Counters(); c.Sent != 7 || c.Dropped != 0 || c.Failed != 0 {
			return errorf("sent %d dropped %d failed %d", c.Sent, c.Dropped, c.Failed)
		}
		return nil
	})
	_, _, metrics := newAPIClient(t, s, "").call("GET", "/metrics", "")
	if !strings.Contains(metrics, `wspush_webhook_events_total{result="sent"} 7`) {
		t.Errorf("metrics lack the webhook's sent events:\n%s", grepLines(metrics, "wspush_webhook"))
	}
}

// A backend that never answers must leave clients and pushes alone: the
// event loops' hooks only queue (the webhook package's
// TestDeadBackendCostsTheQueueAtMost bounds what the queue holds).
func TestWebhookDeadEndpointLeavesClientsAlone(t *testing.T) {
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
	s := startServer(t, Config{ConnConfig: ConnConfig{MaxRate: -1}, APIAddr: "127.0.0.1:0", Webhook: WebhookConfig{
		URL: hang.URL, Queue: 16, Batch: 8, Delay: 5 * time.Millisecond,
		Timeout: 200 * time.Millisecond, Retries: 3,
	}})
	api := newAPIClient(t, s, "")
	alice, _ := dialAs(t, s, "?user=alice", "")
	bob, _ := dialAs(t, s, "?user=bob", "")
	alice.SendJSON(`{"type":"join","room":"r","ref":0}`)
	alice.ExpectJSON("ack")
	const n = 200
	for i := range n {
		alice.SendJSON(fmt.Sprintf(`{"type":"publish","room":"r","data":%d}`, i))
		alice.ExpectJSON("push")
		var res PushResult
		api.do("POST", "/v1/push", `{"users":["bob"],"data":"x"}`, &res)
		if res.Delivered != 1 {
			t.Fatalf("push %d delivered %d", i, res.Delivered)
		}
		bob.ExpectJSON("push")
	}
	if d := s.hook.Counters().Dropped; d == 0 {
		t.Fatal("nothing dropped: the backend was not dead")
	}
	_, _, metrics := api.call("GET", "/metrics", "")
	if !strings.Contains(metrics, `wspush_webhook_events_total{result="dropped"}`) {
		t.Fatalf("no dropped counter in the metrics")
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
		c.Send(ws.OpClose, []byte{0x03, 0xe8})
		c.ExpectClose(1000)
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

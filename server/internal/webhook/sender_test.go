package webhook

import (
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A connection of each kind of event, as the event loops report them:
// every one arrives once, signed, with the fields docs/webhook.md lists.
func TestEveryKindArrivesOnceSigned(t *testing.T) {
	b := newBackend(t, nil)
	w := startHook(t, Config{URL: b.url, Events: []string{"connect", "disconnect", "publish", "send", "binary"},
		Delay: 20 * time.Millisecond}, Deps{})
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	w.Connect(1, "alice", remote, "203.0.113.7")
	w.Connect(2, "bob", remote, "")
	w.Message(EventPublish, 1, "alice", "lobby", []byte(`{"text":"hi all"}`))
	w.Message(EventSend, 1, "alice", "bob", []byte(`"hi bob"`))
	w.Binary(1, "alice", []byte{0, 1, 2, 0xff})
	w.Disconnect(2, "bob", "peer_close")

	evs := b.events(6)
	closeHook(w)
	b.quiet()
	byType := map[string][]posted{}
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
	if c := byType["connect"][0]; c.User != "alice" || c.Conn != "c1" || c.IP != "203.0.113.7" || c.Remote != "127.0.0.1:40000" {
		t.Errorf("connect %+v", c)
	}
	if c := byType["connect"][1]; c.User != "bob" || c.IP != "" {
		t.Errorf("connect %+v: no ip without a proxy's", c)
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
	if d := byType["disconnect"][0]; d.User != "bob" || d.Conn != "c2" || d.Reason != "peer_close" {
		t.Errorf("disconnect %+v", d)
	}
	if c := w.Counters(); c.Sent != 6 || c.Dropped != 0 || c.Failed != 0 || c.Queued != 0 || c.QueueBytes != 0 {
		t.Errorf("counters %+v, want 6 sent and nothing held", c)
	}
	if m := metrics(t, w); !hasMetric(m, `wspush_webhook_events_total{result="sent"} 6`) {
		t.Errorf("metrics lack the webhook's sent events:\n%s", m)
	}
}

func TestDefaultEventsLeaveOutBinary(t *testing.T) {
	b := newBackend(t, nil)
	w := startHook(t, Config{URL: b.url, Delay: 10 * time.Millisecond}, Deps{})
	w.Connect(1, "alice", nil, "")
	w.Binary(1, "alice", []byte("opaque"))
	w.Message(EventSend, 1, "alice", "bob", []byte("1"))
	evs := b.events(2)
	closeHook(w)
	b.quiet()
	if len(evs) != 2 || evs[0].Type != "connect" || evs[1].Type != "send" {
		t.Fatalf("events %+v, want connect and send", evs)
	}
	if evs[0].Remote != "" {
		t.Errorf("connect %+v: a remote without an address", evs[0])
	}
}

func TestRetriesAfter500(t *testing.T) {
	b := newBackend(t, func(n int) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	w := startHook(t, Config{URL: b.url, Delay: 10 * time.Millisecond}, Deps{})
	w.Connect(1, "alice", nil, "")
	first, second := b.next(), b.next()
	closeHook(w)
	b.quiet()
	if first.answered != 500 || string(first.body) == "" {
		t.Fatalf("first request answered %d", first.answered)
	}
	if evs := second.events; len(evs) != 1 || evs[0].Type != "connect" || evs[0].User != "alice" || evs[0].ID != first.events[0].ID {
		t.Fatalf("events %+v, want alice's connect again, with its id", evs)
	}
	if c := w.Counters(); c.Retries != 1 || c.Requests[2] != 1 || c.Requests[0] != 1 || c.Sent != 1 || c.Failed != 0 {
		t.Fatalf("counters %+v, want one retry after one 5xx, then sent", c)
	}
	if f := w.Failures(); len(f) != 1 || f[0].Status != 500 || f[0].Attempt != 1 || f[0].Final || f[0].Events != 1 {
		t.Fatalf("failures %+v, want the 500, retried", f)
	}
}

func TestGivesUpOn4xx(t *testing.T) {
	b := newBackend(t, func(int) int { return http.StatusBadRequest })
	w := startHook(t, Config{URL: b.url, Delay: 10 * time.Millisecond}, Deps{})
	w.Connect(1, "alice", nil, "")
	b.next()
	closeHook(w)
	b.quiet()
	if c := w.Counters(); c.Failed != 1 || c.Retries != 0 || c.Requests[1] != 1 || c.Sent != 0 {
		t.Fatalf("counters %+v, want one failed event, not retried", c)
	}
	if f := w.Failures(); len(f) != 1 || f[0].Status != 400 || !f[0].Final {
		t.Fatalf("failures %+v, want the 400, final", f)
	}
	var none *Webhook
	if f := none.Failures(); len(f) != 0 {
		t.Fatal("a nil webhook has failures")
	}
}

func TestFailureRingKeepsTheLast(t *testing.T) {
	w := &Webhook{}
	for i := range FailureRing + 5 {
		w.failedAttempt(500+i%3, nil, i, 1, false)
	}
	f := w.Failures()
	if len(f) != FailureRing || f[0].Events != FailureRing+4 || f[FailureRing-1].Events != 5 {
		t.Fatalf("ring of %d, newest %d, oldest %d", len(f), f[0].Events, f[len(f)-1].Events)
	}
}

// Close sends what is queued: a shutdown loses nothing the backend takes.
func TestCloseSendsWhatIsQueued(t *testing.T) {
	b := newBackend(t, nil)
	w := New(Config{URL: b.url, Secret: testSecret, Events: []string{"connect"}, Batch: 3, Delay: time.Hour}, Deps{})
	for i := range 10 {
		w.Connect(uint64(i+1), "alice", nil, "")
	}
	w.Start()
	closeHook(w)
	seen := map[string]bool{}
	for len(seen) < 10 {
		r := b.next()
		if len(r.events) > 3 {
			t.Fatalf("a batch of %d events, want at most 3", len(r.events))
		}
		for _, e := range r.events {
			seen[e.Conn] = true
		}
	}
	b.quiet()
	if c := w.Counters(); c.Sent != 10 || c.Failed != 0 || c.Dropped != 0 {
		t.Fatalf("counters %+v, want 10 sent", c)
	}
}

package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/wstest"
)

// Delivery receipts through the whole server, with clients nobody here
// wrote: Python's websockets acknowledges, Node's ws reads and never
// does, a third user is offline, a fourth client forges
// acknowledgements; the webhook endpoint verifies every signature.

// peer is a client process (testdata/receipts.py or receipts.mjs) and
// the JSON lines it printed: the messages it got.
type peer struct {
	t     *testing.T
	mu    sync.Mutex
	lines []map[string]any
}

// runPeer starts a client process that prints what it receives; it is
// killed when the test ends.
func runPeer(t *testing.T, name string, args ...string) *peer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, name, args...)
	clientDir, _ := filepath.Abs(filepath.Join("..", "client"))
	cmd.Env = append(os.Environ(), "WSPUSH_CLIENT_DIR="+clientDir)
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 2 * time.Second
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	p := &peer{t: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				p.mu.Lock()
				p.lines = append(p.lines, m)
				p.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = cmd.Wait()
	})
	return p
}

// wait waits for a message of type typ (and id, when not empty) and
// returns it.
func (p *peer) wait(typ, id string) map[string]any {
	p.t.Helper()
	var got map[string]any
	waitFor(p.t, 10*time.Second, func() error {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, m := range p.lines {
			if m["type"] == typ && (id == "" || m["id"] == id) {
				got = m
				return nil
			}
		}
		return fmt.Errorf("no %s %s among %v", typ, id, p.lines)
	})
	return got
}

// interopClients are the two client programs, or the test is failed (or
// skipped) as wstest.Missing says.
func interopClients(t *testing.T) (python, node string) {
	t.Helper()
	if out, err := exec.Command("/usr/bin/python3", "-c", "import websockets").CombinedOutput(); err != nil {
		wstest.Missing(t, "python3-websockets is not installed: "+string(out))
	}
	node, err := exec.LookPath("node")
	if err != nil {
		wstest.Missing(t, "node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join("..", "client", "node_modules", "ws", "package.json")); err != nil {
		wstest.Missing(t, "Node's ws is not installed in client/node_modules")
	}
	return "/usr/bin/python3", node
}

// receiptStates reads GET /v1/messages/{id} as user -> state.
func receiptStates(t *testing.T, s *Server, id string) map[string]string {
	t.Helper()
	code, _, body := callAPI(t, s.APIHandler(), "GET", "/v1/messages/"+id, "")
	var r Receipt
	if code != 200 || json.Unmarshal([]byte(body), &r) != nil {
		t.Fatalf("GET /v1/messages/%s: %d %s", id, code, body)
	}
	m := map[string]string{}
	for _, u := range r.Users {
		m[u.User] = u.State
	}
	return m
}

func wantStates(t *testing.T, s *Server, id string, want map[string]string) {
	t.Helper()
	waitFor(t, 5*time.Second, func() error {
		if got := receiptStates(t, s, id); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("%s: states %v, want %v", id, got, want)
		}
		return nil
	})
}

// push calls POST /v1/push with body and returns the status and answer.
func pushAPI(t *testing.T, s *Server, body string) (int, map[string]any) {
	t.Helper()
	code, _, out := callAPI(t, s.APIHandler(), "POST", "/v1/push", body)
	var m map[string]any
	_ = json.Unmarshal([]byte(out), &m)
	return code, m
}

func TestReceiptsWithClientsNobodyHereWrote(t *testing.T) {
	python, node := interopClients(t)
	rc := newReceiver(t, nil)
	clock := &manualClock{t: time.UnixMilli(1700000000000)}
	s := startServer(t, Config{clock: clock.now, Webhook: WebhookConfig{
		URL: rc.srv.URL, Secret: testWebhookSecret, Delay: 10 * time.Millisecond,
		Events: []string{"connect"}, // message.undelivered comes whatever is listed
	}})
	url := "ws://" + s.Addr().String() + Path + "?user="
	py := runPeer(t, python, "testdata/receipts.py", url+"py", "ack")
	nd := runPeer(t, node, "testdata/receipts.mjs", url+"nd", "noack")
	py.wait("welcome", "")
	nd.wait("welcome", "")

	code, ans := pushAPI(t, s, `{"users":["py","nd","off"],"data":{"order":1},"id":"order-1","receipt":{"timeout":"30s"}}`)
	if code != 200 || ans["id"] != "order-1" || fmt.Sprint(ans["online"]) != "[py nd]" || fmt.Sprint(ans["offline"]) != "[off]" {
		t.Fatalf("push: %d %v", code, ans)
	}
	m := py.wait("push", "order-1")
	key, _ := m["receipt"].(string)
	if !strings.HasPrefix(key, "r-") || fmt.Sprint(m["data"]) != "map[order:1]" {
		t.Fatalf("python got %v, want the data and a receipt key", m)
	}
	if m := nd.wait("push", "order-1"); m["receipt"] != key {
		t.Fatalf("node got %v, want the same receipt key %s", m, key)
	}
	// read, never acknowledged

	// Forged: another user acknowledges with the receipt's key (someone
	// else's), with the message's id, with an id nobody was sent; and
	// "off", a user of the message who never got it, acknowledges it by
	// its id (which it could guess: not its key). The server answers as
	// to any request and changes nothing.
	mal := runPeer(t, python, "testdata/receipts.py", url+"mallory", "forge:"+key+",order-1,m-0000000000000000,m1")
	if m := mal.wait("ack", ""); m["ref"] != float64(1) {
		t.Fatalf("forged acknowledgement answered %v", m)
	}
	if m := runPeer(t, python, "testdata/receipts.py", url+"off", "forge:order-1").wait("ack", ""); m["ref"] != float64(1) {
		t.Fatalf("a guessed acknowledgement answered %v", m)
	}
	wantStates(t, s, "order-1", map[string]string{"py": "received", "nd": "pending", "off": "pending"})
	waitFor(t, 5*time.Second, func() error {
		if body := getBody(t, s.APIHandler(), "/metrics"); !strings.Contains(body, "wspush_receipt_acks_ignored_total 5") {
			return fmt.Errorf("the forged acknowledgements are not all counted as ignored")
		}
		return nil
	})
	if got := receiptStates(t, s, "order-1"); got["mallory"] != "" {
		t.Fatalf("a forger got a receipt: %v", got)
	}

	// The timeout passes: one message.undelivered for the users who did
	// not acknowledge, with the data. A second message after it is the
	// barrier: the webhook sends in order, so a repeat of the first would
	// have come before the second's.
	clock.set(clock.get().Add(30 * time.Second))
	wantStates(t, s, "order-1", map[string]string{"py": "received", "nd": "undelivered", "off": "undelivered"})
	if code, ans := pushAPI(t, s, `{"users":["off"],"data":"barrier","id":"barrier","receipt":{"timeout":"1s"}}`); code != 200 {
		t.Fatalf("barrier: %d %v", code, ans)
	}
	clock.set(clock.get().Add(time.Second))
	var undelivered []receiptEvent
	waitFor(t, 5*time.Second, func() error {
		undelivered = receiptEvents(rc, "message.undelivered")
		if len(undelivered) < 2 {
			return fmt.Errorf("undelivered events %+v", undelivered)
		}
		return nil
	})
	if len(undelivered) != 2 || undelivered[1].Message != "barrier" {
		t.Fatalf("undelivered events %+v, want order-1's once, then the barrier's", undelivered)
	}
	if e := undelivered[0]; e.Message != "order-1" || !slices.Equal(e.Users, []string{"nd", "off"}) || string(e.Data) != `{"order":1}` {
		t.Fatalf("order-1's event %+v, want nd and off with the data", e)
	}
	// A late acknowledgement changes nothing: the backend was told.
	if m := runPeer(t, python, "testdata/receipts.py", url+"nd", "forge:"+key).wait("ack", ""); m["ref"] != float64(1) {
		t.Fatalf("late acknowledgement answered %v", m)
	}
	wantStates(t, s, "order-1", map[string]string{"py": "received", "nd": "undelivered", "off": "undelivered"})
	body := getBody(t, s.APIHandler(), "/metrics")
	for _, want := range []string{
		`wspush_receipts_total{result="received"} 1`,
		`wspush_receipts_total{result="undelivered"} 3`,
		`wspush_receipts_pending 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// receiptEvent is a message.* webhook event as a backend decodes it.
type receiptEvent struct {
	Type    string          `json:"type"`
	Message string          `json:"message"`
	Users   []string        `json:"users"`
	Data    json.RawMessage `json:"data"`
}

// receiptEvents are the events of type typ rc received, in order.
func receiptEvents(rc *receiver, typ string) []receiptEvent {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []receiptEvent
	for _, raw := range rc.raw {
		var e receiptEvent
		if json.Unmarshal(raw, &e) == nil && e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// At the cap a push that asks for receipts is refused whole, 503
// receipts_full with Retry-After, and sent to nobody; a push without
// receipts still goes; an acknowledgement frees room.
func TestReceiptsCapRefusesThePushCleanly(t *testing.T) {
	s := startServer(t, Config{MaxReceipts: 2})
	c, _ := dialAs(t, s, "?user=a", "")
	if code, ans := pushAPI(t, s, `{"users":["a","b"],"data":1,"id":"one","receipt":{"timeout":"1m"}}`); code != 200 {
		t.Fatalf("first: %d %v", code, ans)
	}
	m := c.ExpectJSON("push")
	key, _ := m["receipt"].(string)
	if m["id"] != "one" || key == "" {
		t.Fatalf("got %v, want push one with a receipt", m)
	}
	code, hdr, out := callAPI(t, s.APIHandler(), "POST", "/v1/push", `{"users":["a"],"data":2,"id":"two","receipt":{"timeout":"1m"}}`)
	if code != 503 || hdr.Get("Retry-After") != "1" || !strings.Contains(out, `"error":"receipts_full"`) || !strings.Contains(out, "--max-receipts") {
		t.Fatalf("at the cap: %d %v %s", code, hdr, out)
	}
	if code, ans := pushAPI(t, s, `{"users":["a"],"data":3}`); code != 200 {
		t.Fatalf("a push without receipts at the cap: %d %v", code, ans)
	}
	if m := c.ExpectJSON("push"); m["data"] != float64(3) || m["receipt"] != nil {
		t.Fatalf("got %v, want the push of 3 without a receipt (2 was refused)", m)
	}
	c.SendJSON(`{"type":"received","ids":["` + key + `"],"ref":"r"}`)
	if m := c.ExpectJSON("ack"); m["ref"] != "r" {
		t.Fatalf("ack %v", m)
	}
	if code, ans := pushAPI(t, s, `{"users":["a"],"data":4,"id":"four","receipt":{"timeout":"1m"}}`); code != 200 {
		t.Fatalf("after an acknowledgement freed room: %d %v", code, ans)
	}
	body := getBody(t, s.APIHandler(), "/metrics")
	for _, want := range []string{`wspush_receipts_refused_total 1`, `wspush_receipts_pending_limit 2`, `wspush_receipts_pending 2`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// The messages of a batch take receipts each: the results carry their
// ids, the states are per message, and a message without a receipt has
// none.
func TestBatchWithReceipts(t *testing.T) {
	s := startServer(t, Config{})
	c, _ := dialAs(t, s, "?user=a", "")
	code, _, out := callAPI(t, s.APIHandler(), "POST", "/v1/push/batch", `{"messages":[
		{"users":["a"],"data":1,"id":"b1","receipt":{"timeout":"1m"}},
		{"users":["a","z"],"data":2,"receipt":{}},
		{"users":["a"],"data":3}
	]}`)
	var got struct {
		Results []struct {
			Status int    `json:"status"`
			ID     string `json:"id"`
		} `json:"results"`
	}
	if code != 200 || json.Unmarshal([]byte(out), &got) != nil || len(got.Results) != 3 {
		t.Fatalf("%d %s", code, out)
	}
	second := got.Results[1].ID
	if got.Results[0].ID != "b1" || !strings.HasPrefix(second, "m-") || got.Results[2].ID != "" {
		t.Fatalf("results %s", out)
	}
	var keys []string
	for _, want := range []struct {
		id      string
		receipt bool
	}{{"b1", true}, {second, true}, {"", false}} {
		m := c.ExpectJSON("push")
		k, _ := m["receipt"].(string)
		if want.id != "" && m["id"] != want.id || (k != "") != want.receipt {
			t.Fatalf("got %v, want id %q receipt %v", m, want.id, want.receipt)
		}
		if k != "" {
			keys = append(keys, k)
		}
	}
	c.SendJSON(`{"type":"received","ids":["` + strings.Join(keys, `","`) + `"]}`)
	wantStates(t, s, "b1", map[string]string{"a": "received"})
	wantStates(t, s, second, map[string]string{"a": "received", "z": "pending"})
}

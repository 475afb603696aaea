package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/wstest"
)

// pythonReceivers runs server/testdata/receive_pushes.py: users
// prefix+lo .. prefix+(hi-1) connect to s with Python's websockets, and
// each waits for want pushes. It returns once they are all connected, and
// a function that waits for the script and returns the pushes each user
// got.
func pythonReceivers(t *testing.T, addr, prefix string, lo, hi, want int) func() map[string][]wstest.Push {
	t.Helper()
	const python = "/usr/bin/python3" // Debian's, which sees python3-websockets
	if out, err := exec.Command(python, "-c", "import websockets").CombinedOutput(); err != nil {
		wstest.Missing(t, fmt.Sprintf("%s cannot import websockets: %v\n%s", python, err, out))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	cmd := exec.CommandContext(ctx, python, filepath.Join("testdata", "receive_pushes.py"),
		"ws://"+addr+"/ws", prefix, strconv.Itoa(lo), strconv.Itoa(hi), strconv.Itoa(want))
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	waited := false
	t.Cleanup(func() {
		cancel()
		if !waited {
			_ = cmd.Wait()
		}
	})
	br := bufio.NewReader(out)
	if line, err := br.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("receive_pushes.py: %q %v", line, err)
	}
	return func() map[string][]wstest.Push {
		t.Helper()
		rest, _ := io.ReadAll(br)
		werr := cmd.Wait()
		waited = true
		var got map[string][]wstest.Push
		if err := json.Unmarshal(rest, &got); err != nil {
			t.Fatalf("receive_pushes.py (%v): %v: %.300s", werr, err, rest)
		}
		return got
	}
}

// batchOfDistinct is a batch of n messages, the i-th to user prefix+i with
// data {"to":USER,"n":i}, and a malformed message (no users) at index bad.
func batchOfDistinct(prefix string, n, bad int) string {
	var b strings.Builder
	b.WriteString(`{"messages":[`)
	for i := range n {
		if i == bad {
			b.WriteString(`{"users":[],"data":"malformed"},`)
		}
		fmt.Fprintf(&b, `{"users":["%s%d"],"data":{"to":"%s%d","n":%d}}`, prefix, i, prefix, i, i)
		if i < n-1 {
			b.WriteByte(',')
		}
	}
	b.WriteString(`]}`)
	return b.String()
}

// batchAnswer is POST /v1/push/batch's answer as a backend decodes it.
type batchAnswer struct {
	Results []struct {
		Status    int      `json:"status"`
		Delivered int      `json:"delivered"`
		Online    []string `json:"online"`
		Offline   []string `json:"offline"`
		Error     string   `json:"error"`
		Message   string   `json:"message"`
	} `json:"results"`
}

// checkBatch checks the answer of batchOfDistinct(prefix, n, bad): the
// malformed message refused alone, every other one delivered to its user.
func checkBatch(t *testing.T, got batchAnswer, prefix string, n, bad int) {
	t.Helper()
	if len(got.Results) != n+1 {
		t.Fatalf("%d results for %d messages", len(got.Results), n+1)
	}
	for k, r := range got.Results {
		i := k
		if k == bad {
			if r.Status != 400 || r.Error != "bad_request" || !strings.Contains(r.Message, "users") {
				t.Errorf("the malformed message: %+v, want 400 bad_request about users", r)
			}
			continue
		} else if k > bad {
			i = k - 1
		}
		if r.Status != 200 || r.Delivered != 1 || len(r.Online) != 1 || r.Online[0] != prefix+strconv.Itoa(i) || len(r.Offline) != 0 {
			t.Errorf("message %d: %+v, want 200 delivered 1 to %s%d", k, r, prefix, i)
		}
	}
}

// checkReceived checks that each user prefix+i of lo..hi-1 got exactly its
// own message of the batch.
func checkReceived(t *testing.T, got map[string][]wstest.Push, prefix string, lo, hi int) {
	t.Helper()
	for i := lo; i < hi; i++ {
		u := prefix + strconv.Itoa(i)
		want := fmt.Sprintf(`{"to":%q,"n":%d}`, u, i)
		ps := got[u]
		var data bytes.Buffer
		if len(ps) == 1 {
			_ = json.Compact(&data, ps[0].Data) // Python's json.dumps spaces it out
		}
		if len(ps) != 1 || data.String() != want || ps[0].Type != "push" || ps[0].ID == "" {
			t.Errorf("%s got %d pushes %v, want one of %s", u, len(ps), ps, want)
		}
	}
}

// goReceivers connects users prefix+lo .. prefix+(hi-1) with the tests'
// own client and returns a function that checks each got exactly its
// message of the batch and nothing more.
func goReceivers(t *testing.T, addr, prefix string, lo, hi int) func() {
	t.Helper()
	cs := make([]*client, 0, hi-lo)
	for i := lo; i < hi; i++ {
		c, _ := wstest.DialAs(t, addr, "?user="+prefix+strconv.Itoa(i), "")
		cs = append(cs, c)
	}
	return func() {
		t.Helper()
		for k, c := range cs {
			i := lo + k
			u := prefix + strconv.Itoa(i)
			c.ExpectPushData(fmt.Sprintf(`{"to":%q,"n":%d}`, u, i), "")
		}
		// Nothing more: one message each.
		for _, c := range cs[:min(len(cs), 20)] {
			if h, p, err := c.TryRead(100 * time.Millisecond); err == nil {
				t.Errorf("an extra frame %v %s", h.OpCode, p)
			}
		}
	}
}

// One call of 1,000 distinct messages to 1,000 users, half of them
// Python's websockets, half the tests' client: every user gets its own
// message once, the answer has a status per message in order, and the one
// malformed message among them is refused alone.
func TestBatchOfAThousandDistinctMessages(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 connections")
	}
	const n, bad = 1000, 500
	s := startServer(t, Config{APIAddr: "127.0.0.1:0", APIKey: testAPIKey, HistorySize: 10, HistoryTTL: time.Minute})
	api := newAPIClient(t, s, testAPIKey)
	wait := pythonReceivers(t, s.Addr().String(), "u", 0, n/2, 1)
	check := goReceivers(t, s.Addr().String(), "u", n/2, n)
	var got batchAnswer
	api.do("POST", "/v1/push/batch", batchOfDistinct("u", n, bad), &got)
	checkBatch(t, got, "u", n, bad)
	check()
	checkReceived(t, wait(), "u", 0, n/2)
}

// The same in a cluster of two: the users on two nodes, the batch sent
// through one of them, in one Redis pipeline.
func TestClusterBatchOfAThousandDistinctMessages(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 connections")
	}
	const n, bad = 1000, 0
	r := startRedis(t)
	cfg := clusterConfig()
	cfg.APIAddr, cfg.APIKey = "127.0.0.1:0", testAPIKey
	a, b := startNode(t, r, "a", cfg), startNode(t, r, "b", cfg)
	api := newAPIClient(t, a, testAPIKey)
	wait := pythonReceivers(t, b.Addr().String(), "u", 0, n/2, 1)
	check := goReceivers(t, a.Addr().String(), "u", n/2, n)
	waitFor(t, 10*time.Second, func() error {
		// Both nodes have told Redis who they hold.
		if k, err := r.rdb.Exists(context.Background(), "wspush:p:u0", "wspush:p:u999").Result(); err != nil || k != 2 {
			return fmt.Errorf("presence of u0, u999: %d %v", k, err)
		}
		return nil
	})
	r.waitSubs("wspush:u:u0", 1)
	r.waitSubs("wspush:u:u999", 1)
	if err := r.rdb.Set(context.Background(), "wspush:since", "1000-0", 0).Err(); err != nil {
		t.Fatal(err)
	}
	var got batchAnswer
	api.do("POST", "/v1/push/batch", batchOfDistinct("u", n, bad), &got)
	checkBatch(t, got, "u", n, bad)
	check()
	checkReceived(t, wait(), "u", 0, n/2)
}

// A batch that Redis cannot take: every message answered 503 in its own
// status, with a retry delay, and the call too says Retry-After.
func TestClusterBatchWithoutRedisAnswers503PerMessage(t *testing.T) {
	r := startRedis(t)
	a := startNode(t, r, "a", clusterConfig())
	r.kill()
	waitFor(t, 5*time.Second, func() error {
		if a.b.Up() {
			return errorf("the node has not noticed Redis is gone")
		}
		return nil
	})
	status, h, body := callAPI(t, a.APIHandler(), "POST", "/v1/push/batch", `{"messages":[{"users":["a"],"data":1,"id":"x1"},{"users":["b"],"data":2},{"data":3}]}`)
	var got struct {
		Results []struct {
			Status     int    `json:"status"`
			Error      string `json:"error"`
			RetryAfter int    `json:"retry_after"`
		} `json:"results"`
	}
	if status != 200 || h.Get("Retry-After") != "1" || json.Unmarshal([]byte(body), &got) != nil || len(got.Results) != 3 {
		t.Fatalf("%d Retry-After %q %s", status, h.Get("Retry-After"), body)
	}
	for i, r := range got.Results[:2] {
		if r.Status != 503 || r.Error != "unavailable" || r.RetryAfter != 1 {
			t.Errorf("message %d: %+v, want 503 unavailable, retry after 1", i, r)
		}
	}
	if got.Results[2].Status != 400 {
		t.Errorf("the message without users: %+v", got.Results[2])
	}
	// Redis back, so that the node's reconnects end before the leak check.
	r.start()
	waitFor(t, 20*time.Second, func() error {
		if !a.b.Up() {
			return errorf("the node has not reconnected")
		}
		return nil
	})
}

// checkBatchOrder sends a batch of 50 messages to alice and bob
// alternately, with ids, through s, and checks that each gets its own in
// the batch's order.
func checkBatchOrder(t *testing.T, s *Server, alice, bob *client) {
	t.Helper()
	var msgs []string
	for i := range 50 {
		u := []string{"alice", "bob"}[i%2]
		msgs = append(msgs, fmt.Sprintf(`{"users":["%s"],"data":%d,"id":"order-%d"}`, u, i, i))
	}
	status, _, body := callAPI(t, s.APIHandler(), "POST", "/v1/push/batch", `{"messages":[`+strings.Join(msgs, ",")+`]}`)
	var got batchAnswer
	if status != 200 || json.Unmarshal([]byte(body), &got) != nil || len(got.Results) != 50 {
		t.Fatalf("%d %s", status, body)
	}
	for i, r := range got.Results {
		if r.Status != 200 || r.Delivered != 1 {
			t.Fatalf("message %d: %+v", i, r)
		}
	}
	for i := range 50 {
		c := []*client{alice, bob}[i%2]
		p := c.ExpectPushData(strconv.Itoa(i), "")
		if p.ID != "order-"+strconv.Itoa(i) {
			t.Fatalf("message %d has id %q", i, p.ID)
		}
	}
}

// Two messages of a batch to one user reach it in the batch's order.
func TestBatchKeepsTheOrderPerUser(t *testing.T) {
	s := startServer(t, historyConfig())
	checkBatchOrder(t, s, apiDialUser(t, s, "alice"), apiDialUser(t, s, "bob"))
}

func TestClusterBatchKeepsTheOrderPerUser(t *testing.T) {
	r, a, b := startPair(t)
	alice, bob := apiDialUser(t, b, "alice"), apiDialUser(t, a, "bob")
	r.waitSubs("wspush:u:alice", 1)
	r.waitSubs("wspush:u:bob", 1)
	checkBatchOrder(t, a, alice, bob)
}

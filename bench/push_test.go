package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// fakePush is a stand-in for `wspush serve` in push and broadcast: a
// WebSocket listener that greets each connection, pings it, and keeps it
// by user; and an HTTP API whose calls write pushes to those connections.
// The pushed data goes through a map and back, as a server that decodes it
// would (keys sorted, numbers as float64).
type fakePush struct {
	ln    net.Listener
	api   *httptest.Server
	mu    sync.Mutex
	users map[string]*fakeConn
	pongs atomic.Int64
	wg    sync.WaitGroup
	key   string
}

type fakeConn struct {
	mu sync.Mutex
	c  net.Conn
}

func (c *fakeConn) send(p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return wsutil.WriteServerText(c.c, p)
}

func startFakePush(t *testing.T, key string) *fakePush {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakePush{ln: ln, users: map[string]*fakeConn{}, key: key}
	f.wg.Go(f.accept)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/push", f.push)
	mux.HandleFunc("POST /v1/broadcast", f.broadcast)
	f.api = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.api.Close()
		ln.Close()
		f.mu.Lock()
		for _, c := range f.users {
			c.c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *fakePush) accept() {
	for {
		nc, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.wg.Go(func() { f.serve(nc) })
	}
}

func (f *fakePush) serve(nc net.Conn) {
	defer nc.Close()
	var user string
	up := ws.Upgrader{OnRequest: func(uri []byte) error {
		if _, q, ok := strings.Cut(string(uri), "?"); ok && strings.HasPrefix(q, "user=") {
			user = strings.TrimPrefix(q, "user=")
		}
		return nil
	}}
	if _, err := up.Upgrade(nc); err != nil {
		return
	}
	c := &fakeConn{c: nc}
	f.mu.Lock()
	f.users[user] = c
	f.mu.Unlock()
	_ = c.send([]byte(`{"type":"welcome","conn":"c1","user":"` + user + `","ping":25000}`))
	c.mu.Lock()
	_ = ws.WriteFrame(nc, ws.NewPingFrame([]byte("hi")))
	c.mu.Unlock()
	for {
		h, err := ws.ReadHeader(nc)
		if err != nil {
			return
		}
		p := make([]byte, h.Length)
		if _, err := nc.Read(p); err != nil && h.Length > 0 {
			return
		}
		ws.Cipher(p, h.Mask, 0)
		switch h.OpCode {
		case ws.OpPong:
			if string(p) == "hi" {
				f.pongs.Add(1)
			}
		case ws.OpClose:
			c.mu.Lock()
			_ = ws.WriteFrame(nc, ws.NewCloseFrame(p))
			c.mu.Unlock()
			return
		}
	}
}

// frameOf re-encodes data as a server that decoded it would, and wraps it
// in a push message.
func frameOf(data json.RawMessage) []byte {
	var v any
	_ = json.Unmarshal(data, &v)
	b, _ := json.Marshal(map[string]any{"type": "push", "id": "m1", "data": v, "ts": time.Now().UnixMilli()})
	return b
}

func (f *fakePush) authorized(w http.ResponseWriter, r *http.Request) bool {
	if f.key != "" && r.Header.Get("Authorization") != "Bearer "+f.key {
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return false
	}
	return true
}

func (f *fakePush) push(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	var body struct {
		Users []string        `json:"users"`
		Data  json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, `{"error":"bad_json"}`, http.StatusBadRequest)
		return
	}
	msg := frameOf(body.Data)
	delivered := 0
	for _, u := range body.Users {
		f.mu.Lock()
		c := f.users[u]
		f.mu.Unlock()
		if c != nil && c.send(msg) == nil {
			delivered++
		}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"delivered": delivered})
}

func (f *fakePush) broadcast(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	var body struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, `{"error":"bad_json"}`, http.StatusBadRequest)
		return
	}
	msg := frameOf(body.Data)
	f.mu.Lock()
	conns := make([]*fakeConn, 0, len(f.users))
	for _, c := range f.users {
		conns = append(conns, c)
	}
	f.mu.Unlock()
	delivered := 0
	for _, c := range conns {
		if c.send(msg) == nil {
			delivered++
		}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"delivered": delivered})
}

func (f *fakePush) config(mode string, conns int) Config {
	cfg := testConfig(mode, "ws://"+f.ln.Addr().String()+"/ws", conns)
	cfg.API = f.api.URL
	cfg.APIKey = f.key
	return cfg
}

func TestPushThroughTheAPI(t *testing.T) {
	f := startFakePush(t, "k3y")
	cfg := f.config(ModePush, 50)
	cfg.Rate = 200
	cfg.Count = 40
	cfg.Duration = 10 * time.Second
	res := runOK(t, cfg)
	if res.API == nil || res.API.Calls != 40 || res.API.Delivered != 40 || res.API.Lost != 0 {
		t.Fatalf("api %+v, want 40 calls all delivered", res.API)
	}
	if res.Messages.Received != 40 || res.Latency == nil || res.Latency.Count != 40 {
		t.Fatalf("arrivals %d latency %+v, want 40", res.Messages.Received, res.Latency)
	}
	// Welcomes are counted apart from pushes, and every ping was answered.
	if res.Messages.Other != 50 || f.pongs.Load() != 50 {
		t.Fatalf("other messages %d pongs %d, want 50 each", res.Messages.Other, f.pongs.Load())
	}
}

func TestPushWithAWrongKeyCountsAPIErrors(t *testing.T) {
	f := startFakePush(t, "right")
	cfg := f.config(ModePush, 5)
	cfg.APIKey = "wrong"
	cfg.Count = 3
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Failures["api_http_401"] != 3 || res.API.Failed != 3 || res.Pass {
		t.Fatalf("failures %v api %+v pass %v", res.Failures, res.API, res.Pass)
	}
}

func TestBroadcastReachesEveryConnection(t *testing.T) {
	f := startFakePush(t, "")
	cfg := f.config(ModeBroadcast, 60)
	cfg.Count = 5
	cfg.Rate = 20
	cfg.Workers = 2
	res := runOK(t, cfg)
	if res.API.Calls != 5 || res.API.Delivered != 300 {
		t.Fatalf("api %+v, want 5 calls delivered to 60 each", res.API)
	}
	b := res.Broadcast
	if b == nil || b.Receivers != 300 || b.LastReceiver == nil || b.LastReceiver.Count != 5 {
		t.Fatalf("broadcast %+v, want 300 receivers over 5 broadcasts", b)
	}
	if res.Latency.Count != 300 {
		t.Fatalf("per-receiver latencies %d, want 300", res.Latency.Count)
	}
}

func TestPushFailsFastWithoutAnAPI(t *testing.T) {
	f := startFakePush(t, "")
	cfg := f.config(ModePush, 5)
	cfg.API = "http://" + refusedAddr(t)
	if res, err := Run(context.Background(), cfg); err == nil {
		t.Fatalf("ran without an API: %+v", res)
	}
}

// Push calls spread over several APIs in turn: --api with two nodes (two
// doors to the same fake server) sends half of the pushes to each.
func TestPushCallsSpreadOverSeveralAPIs(t *testing.T) {
	f := startFakePush(t, "")
	var calls [2]atomic.Int64
	var apis []string
	for i := range calls {
		node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/push" {
				calls[i].Add(1)
			}
			f.api.Config.Handler.ServeHTTP(w, r)
		}))
		t.Cleanup(node.Close)
		apis = append(apis, node.URL)
	}
	cfg := f.config(ModePush, 20)
	cfg.API = apis[0] + ", " + apis[1] + "/"
	cfg.Rate = 200
	cfg.Count = 40
	res := runOK(t, cfg)
	if res.API.Calls != 40 || res.API.Delivered != 40 || calls[0].Load() != 20 || calls[1].Load() != 20 {
		t.Fatalf("api %+v: %d calls to the first API, %d to the second, want 20 each of 40 delivered",
			res.API, calls[0].Load(), calls[1].Load())
	}
	if err := (Config{Mode: ModePush, URL: "ws://x/ws", API: " , "}).check(); err == nil {
		t.Fatal("an --api with no URL was accepted")
	}
}

// A push that reaches its connection twice is counted as a duplicate, not
// as a second arrival that could hide a lost one.
func TestPushArrivingTwiceIsADuplicate(t *testing.T) {
	f := startFakePush(t, "")
	twice := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/push" {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			f.api.Config.Handler.ServeHTTP(httptest.NewRecorder(), r.Clone(r.Context()))
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		f.api.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(twice.Close)
	cfg := f.config(ModePush, 10)
	cfg.API = twice.URL
	cfg.Count = 5
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages.Received != 5 || res.Failures["duplicate"] != 5 || res.API.Lost != 0 || res.Pass {
		t.Fatalf("received %d failures %v api %+v, want 5 arrivals and 5 duplicates", res.Messages.Received, res.Failures, res.API)
	}
}

// A 200 that reached nobody is counted, with the users it calls online,
// offline or unknown. In a cluster "delivered" counts nodes, and a user
// that a node will catch up is online but not delivered: such a push that
// never arrives is lost all the same.
func TestPushCountsOnlineUsersThatNothingReached(t *testing.T) {
	f := startFakePush(t, "")
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/push" {
			_, _ = io.WriteString(w, `{"delivered":0,"online":["bench-0"],"offline":["bench-1"],"unknown":["bench-2","bench-3"]}`)
			return
		}
		f.api.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(api.Close)
	cfg := f.config(ModePush, 5)
	cfg.API = api.URL
	cfg.Count = 4
	cfg.Grace = 200 * time.Millisecond
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := res.API
	if a.Calls != 4 || a.Online != 4 || a.Empty != 4 || a.Offline != 4 || a.Unknown != 8 || a.Lost != 4 || res.Failures["lost"] != 4 {
		t.Fatalf("api %+v failures %v, want 4 calls that reached nobody and 4 online users lost", a, res.Failures)
	}
}

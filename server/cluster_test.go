package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/wspush/wspush/server/internal/cluster"
	"github.com/wspush/wspush/server/internal/redistest"
	"github.com/wspush/wspush/server/internal/wstest"
)

// redisServer is a real redis-server for the length of a test, with a
// leak check of the nodes started on it when it ends.
type redisServer struct {
	*redistest.Server
	rdb *redis.Client
}

// startRedis starts redis-server and stops it when the test ends; the
// nodes started on it are checked for leaked goroutines after it.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { wstest.NoLeaks(t, ignore) })
	r := redistest.Start(t)
	return &redisServer{Server: r, rdb: r.Client}
}

func (r *redisServer) url() string                      { return r.URL() }
func (r *redisServer) kill()                            { r.Kill() }
func (r *redisServer) start()                           { r.Restart() }
func (r *redisServer) waitSubs(channel string, n int64) { r.WaitSubs(channel, n) }

// startNode starts a node of the cluster on r. The nodes of a test are
// checked for leaked goroutines together, after the last has stopped:
// startRedis takes the snapshot.
func startNode(t testing.TB, r *redisServer, name string, cfg Config) *Server {
	t.Helper()
	cfg.Redis, cfg.Node = r.url(), name
	return startPlain(t, cfg)
}

// startPair starts a Redis and two nodes, a and b, with clusterConfig.
func startPair(t testing.TB) (*redisServer, *Server, *Server) {
	t.Helper()
	r := startRedis(t)
	return r, startNode(t, r, "a", clusterConfig()), startNode(t, r, "b", clusterConfig())
}

func clusterConfig() Config {
	return Config{HistorySize: 10, HistoryTTL: time.Minute}
}

func TestClusterPushThroughOneNodeReachesAClientOnAnother(t *testing.T) {
	r, a, b := startPair(t)
	c, _ := dialAs(t, b, "?user=alice", "")
	r.waitSubs("wspush:u:"+"alice", 1)
	// An established cluster: Redis has held the nodes' state for longer
	// than a node's timeout (a fresh one answers unknown, not offline).
	if err := r.rdb.Set(context.Background(), "wspush:since", "1000-0", 0).Err(); err != nil {
		t.Fatal(err)
	}

	res, err := a.Push(context.Background(), []string{"alice", "bob"}, json.RawMessage(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Online) != 1 || res.Online[0] != "alice" || len(res.Offline) != 1 || res.Delivered != 1 || len(res.Unknown) != 0 {
		t.Fatalf("push answer %+v, want alice online on one node", res)
	}
	if p := c.ExpectPush(`{"n":1}`); p == "" {
		t.Fatal("no pos")
	}

	// Presence and stats answer for the whole cluster.
	if p := a.Presence(context.Background(), "alice"); !p.Online || p.Connections != 1 {
		t.Fatalf("presence of alice through a: %+v", p)
	}
	waitFor(t, 5*time.Second, func() error {
		st := a.Stats().Cluster
		if st == nil || st.Nodes != 2 || st.Connections != 1 || st.Redis != "up" {
			return fmt.Errorf("cluster stats %+v", st)
		}
		return nil
	})

	// A broadcast through b reaches clients of both nodes, once.
	c2, _ := dialAs(t, a, "?user=carol", "")
	if _, err := b.Broadcast(context.Background(), json.RawMessage(`"all"`)); err != nil {
		t.Fatal(err)
	}
	c.ExpectPush(`"all"`)
	c2.ExpectPush(`"all"`)
	// Once: the next message after it is the next broadcast, not a copy.
	if _, err := a.Broadcast(context.Background(), json.RawMessage(`"next"`)); err != nil {
		t.Fatal(err)
	}
	c.ExpectPush(`"next"`)
	c2.ExpectPush(`"next"`)
}

func TestClusterRoomSpansNodes(t *testing.T) {
	r, a, b := startPair(t)
	ca, _ := dialAs(t, a, "?user=ann", "")
	cb, _ := dialAs(t, b, "?user=ben", "")
	for i, c := range []*client{ca, cb} {
		c.SendJSON(`{"type":"join","room":"chat","ref":` + strconv.Itoa(i) + `}`)
		c.ExpectJSON("ack")
	}
	r.waitSubs("wspush:r:"+"chat", 2)

	n, err := a.Publish(context.Background(), "chat", json.RawMessage(`"from the API"`))
	if err != nil || n != 2 {
		t.Fatalf("publish reached %d nodes, %v; want 2", n, err)
	}
	ca.ExpectPush(`"from the API"`)
	cb.ExpectPush(`"from the API"`)
	// Once: what comes next is the client's publish below, not a copy.

	// A client's publish on b reaches a's member too, with from.
	cb.SendJSON(`{"type":"publish","room":"chat","data":"hi","ref":9}`)
	cb.ExpectJSON("ack")
	for _, c := range []*client{ca, cb} {
		m := c.ExpectJSON("push")
		if m["data"] != "hi" || m["from"] != "ben" || m["room"] != "chat" {
			t.Fatalf("room message %v", m)
		}
	}

	// The last member on b leaves: b unsubscribes.
	cb.NC.Close()
	r.waitSubs("wspush:r:"+"chat", 1)
}

func TestClusterResumeOnAnotherNodeRecoversExactlyTheMissed(t *testing.T) {
	r, a, b := startPair(t)
	c, _ := dialAs(t, b, "?user=dora", "")
	r.waitSubs("wspush:u:"+"dora", 1)
	if _, err := a.Push(context.Background(), []string{"dora"}, json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	seen := c.ExpectPush(`1`)

	c.NC.Close()
	r.waitSubs("wspush:u:"+"dora", 0)
	for _, d := range []string{`2`, `3`} {
		if _, err := a.Push(context.Background(), []string{"dora"}, json.RawMessage(d)); err != nil {
			t.Fatal(err)
		}
	}

	c, _ = dialAs(t, a, "?user=dora&resume=1", "")
	c.SendJSON(`{"type":"resume","user_pos":"` + seen + `","ref":1}`)
	c.ExpectPush(`2`)
	c.ExpectPush(`3`)
	c.ExpectJSON("ack")

	// Then live messages, from either node.
	r.waitSubs("wspush:u:"+"dora", 1)
	if _, err := b.Push(context.Background(), []string{"dora"}, json.RawMessage(`4`)); err != nil {
		t.Fatal(err)
	}
	c.ExpectPush(`4`)

	// A position from before this Redis's history is a gap, followed by
	// everything the stream holds.
	c2, _ := dialAs(t, b, "?user=dora&resume=1", "")
	c2.SendJSON(`{"type":"resume","user_pos":"1-0","ref":2}`)
	c2.ExpectJSON("gap")
	for _, d := range []string{`1`, `2`, `3`, `4`} {
		c2.ExpectPush(d)
	}
	c2.ExpectJSON("ack")
}

func TestClusterSurvivesARedisRestart(t *testing.T) {
	r, a, b := startPair(t)
	api := a.APIHandler()
	cb, _ := dialAs(t, b, "?user=eve", "")
	ca, _ := dialAs(t, a, "?user=fay", "")
	r.waitSubs("wspush:u:"+"eve", 1)

	r.kill()
	// No position authority, no acknowledged push: the API says so and
	// the backend retries; nothing goes out with a position Redis did
	// not give.
	waitFor(t, 10*time.Second, func() error {
		if a.b.Up() {
			return fmt.Errorf("a has not noticed the outage")
		}
		return nil
	})
	if _, err := a.Push(context.Background(), []string{"fay"}, json.RawMessage(`"local"`)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("push during the outage: %v, want ErrUnavailable", err)
	}
	status, h, body := callAPI(t, api, "POST", "/v1/push", `{"users":["fay"],"data":"x","id":"p-1"}`)
	if status != 503 || h.Get("Retry-After") == "" || !strings.Contains(body, `"unavailable"`) {
		t.Fatalf("API push during the outage: %d %s", status, body)
	}
	if a.b.(*cluster.Cluster).Counters().Unavailable == 0 {
		t.Fatal("refused pushes were not counted")
	}
	if body := getBody(t, api, "/healthz"); !json.Valid([]byte(body)) || !strings.Contains(body, `"redis":"down"`) {
		t.Fatalf("healthz during the outage: %s", body)
	}
	if body := getBody(t, api, "/metrics"); !strings.Contains(body, "wspush_redis_up 0") {
		t.Fatal("metrics do not show the outage")
	}

	r.start()
	waitFor(t, 20*time.Second, func() error {
		if !a.b.Up() || !b.b.Up() {
			return fmt.Errorf("the nodes have not reconnected")
		}
		return nil
	})
	r.waitSubs("wspush:u:"+"eve", 1) // go-redis subscribed again
	// Redis lost its history: b cannot know what eve may have missed,
	// and tells her so before anything new.
	if g := cb.ExpectJSON("gap"); g["pos"] == nil {
		t.Fatalf("gap %v without a position to resume from", g)
	}
	if _, err := a.Push(context.Background(), []string{"eve"}, json.RawMessage(`"back"`)); err != nil {
		t.Fatal(err)
	}
	cb.ExpectPush(`"back"`)
	_ = ca
	// Presence is written again after Redis lost it.
	waitFor(t, 10*time.Second, func() error {
		if p := a.Presence(context.Background(), "eve"); p.Connections != 1 {
			return fmt.Errorf("presence of eve %+v", p)
		}
		return nil
	})
}

func TestClusterNodeThatStopsLeavesNoGhost(t *testing.T) {
	r := startRedis(t)
	a := startNode(t, r, "a", clusterConfig())
	b := startNode(t, r, "b", Config{})
	c, _ := dialAs(t, b, "?user=gus", "")
	r.waitSubs("wspush:u:"+"gus", 1)
	waitFor(t, 5*time.Second, func() error {
		if p := a.Presence(context.Background(), "gus"); p.Connections != 1 {
			return fmt.Errorf("presence %+v", p)
		}
		return nil
	})
	// The node dies: its heartbeat stops and its process's Redis
	// connections close, but its presence hash entry stays.
	b.b.Close()
	r.rdb.ZAdd(context.Background(), "wspush:nodes", redis.Z{Score: 1, Member: "b"}) // as if its last beat was long ago
	if p := a.Presence(context.Background(), "gus"); p.Connections != 0 || p.Online {
		t.Fatalf("ghost: %+v", p)
	}
	c.NC.Close()
}

// callAPI makes one call to an API handler and returns its status,
// header and body.
func callAPI(t testing.TB, h http.Handler, method, path, body string) (int, http.Header, string) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Host = "127.0.0.1:8081"
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Header(), w.Body.String()
}

// getBody serves GET path on h and returns the body.
func getBody(t testing.TB, h http.Handler, path string) string {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "http://127.0.0.1"+path, nil)) // a keyless API answers loopback hosts only
	return w.Body.String()
}

func TestClusterRoomMembersAndKicksThroughOneNodeReachAnother(t *testing.T) {
	r, a, b := startPair(t)
	c, _ := dialAs(t, b, "?user=hal", "")
	r.waitSubs("wspush:u:"+"hal", 1)
	if _, err := a.AddToRoom(context.Background(), "ops", []string{"hal"}); err != nil {
		t.Fatal(err)
	}
	r.waitSubs("wspush:r:"+"ops", 1)
	if _, err := a.Publish(context.Background(), "ops", json.RawMessage(`"deploy"`)); err != nil {
		t.Fatal(err)
	}
	c.ExpectPush(`"deploy"`)

	if _, err := a.Kick(context.Background(), "hal"); err != nil {
		t.Fatal(err)
	}
	if d := c.ExpectJSON("disconnect"); d["code"] != 4500.0 {
		t.Fatalf("disconnect %v", d)
	}
}

// BenchmarkClusterPushLatency measures a push made through node a's Push
// until a client of node b has read it, against the same on one node
// without Redis: ns/op is the cross-node push, and the p50/p99 metrics
// are both paths'. Run it with -benchtime 1000x (docs/benchmarks.md).
func BenchmarkClusterPushLatency(b *testing.B) {
	r, a, nb := startPair(b)
	single := startPlain(b, historyConfig())
	cb, _ := dialAs(b, nb, "?user=lat", "")
	cs, _ := dialAs(b, single, "?user=lat", "")
	r.waitSubs("wspush:u:"+"lat", 1)
	measure := func(s *Server, c *client, n int) []time.Duration {
		ds := make([]time.Duration, n)
		for i := range n {
			start := time.Now()
			if _, err := s.Push(context.Background(), []string{"lat"}, json.RawMessage(`"x"`)); err != nil {
				b.Fatal(err)
			}
			c.ExpectPush(`"x"`)
			ds[i] = time.Since(start)
		}
		slices.Sort(ds)
		return ds
	}
	local := measure(single, cs, max(b.N, 100))
	b.ResetTimer()
	cross := measure(a, cb, b.N)
	b.StopTimer()
	q := func(ds []time.Duration, p int) float64 { return float64(ds[len(ds)*p/100].Microseconds()) }
	b.ReportMetric(q(cross, 50), "cross-p50-us")
	b.ReportMetric(q(cross, 99), "cross-p99-us")
	b.ReportMetric(q(local, 50), "local-p50-us")
	b.ReportMetric(q(local, 99), "local-p99-us")
}

func TestClusterWithoutHistoryPushesCarryNoPos(t *testing.T) {
	r := startRedis(t)
	a := startNode(t, r, "a", Config{})
	b := startNode(t, r, "b", Config{})
	c, _ := dialAs(t, b, "?user=ivy&resume=1", "") // no history: nothing is held
	r.waitSubs("wspush:u:"+"ivy", 1)
	if _, err := a.Push(context.Background(), []string{"ivy"}, json.RawMessage(`"plain"`)); err != nil {
		t.Fatal(err)
	}
	if p := c.ExpectPush(`"plain"`); p != "" {
		t.Fatalf("pos %q without history", p)
	}
}

func TestRedisURLIsValidated(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:6379", "redis://127.0.0.1:6379/x"} {
		if err := (Config{Redis: u}).Validate(); err == nil {
			t.Errorf("--redis %s accepted", u)
		}
	}
	if err := (Config{Redis: "redis://127.0.0.1:6379/2"}).Validate(); err != nil {
		t.Errorf("a good URL refused: %v", err)
	}
}

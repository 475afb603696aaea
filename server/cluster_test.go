package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// redisServer is a real redis-server on a free loopback port, without
// persistence, for the length of a test.
type redisServer struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
	rdb  *redis.Client
}

// startRedis starts redis-server (Debian's redis-server package; make
// deps installs it) and stops it when the test ends.
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is not installed: the cluster tests need it (make deps, or apt-get install redis-server)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ignore := goleak.IgnoreCurrent()
	r := &redisServer{t: t, port: port}
	r.start()
	r.rdb = redis.NewClient(&redis.Options{Addr: r.addr()})
	t.Cleanup(func() {
		r.rdb.Close()
		r.kill()
		goleak.VerifyNone(t, ignore)
	})
	return r
}

func (r *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }
func (r *redisServer) url() string  { return "redis://" + r.addr() + "/0" }

func (r *redisServer) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("redis-server: %v", err)
	}
	waitFor(r.t, 5*time.Second, func() error {
		c, err := net.Dial("tcp", r.addr())
		if err == nil {
			c.Close()
		}
		return err
	})
}

func (r *redisServer) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// numsub is how many nodes subscribe to channel.
func (r *redisServer) numsub(channel string) int64 {
	m, err := r.rdb.PubSubNumSub(context.Background(), channel).Result()
	if err != nil {
		return -1
	}
	return m[channel]
}

// waitSubs waits until n nodes subscribe to channel.
func (r *redisServer) waitSubs(channel string, n int64) {
	r.t.Helper()
	waitFor(r.t, 10*time.Second, func() error {
		if got := r.numsub(channel); got != n {
			return fmt.Errorf("%s has %d subscribers, want %d", channel, got, n)
		}
		return nil
	})
}

// startNode starts a node of the cluster on r. The nodes of a test are
// checked for leaked goroutines together, after the last has stopped:
// startRedis takes the snapshot.
func startNode(t *testing.T, r *redisServer, name string, cfg Config) *Server {
	t.Helper()
	cfg.Redis, cfg.Node = r.url(), name
	return startPlain(t, cfg)
}

// startPair starts a Redis and two nodes, a and b, with clusterConfig.
func startPair(t *testing.T) (*redisServer, *Server, *Server) {
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
	r.waitSubs(chUser+"alice", 1)

	res, err := a.Push(context.Background(), []string{"alice", "bob"}, json.RawMessage(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Online) != 1 || res.Online[0] != "alice" || len(res.Offline) != 1 || res.Delivered != 1 {
		t.Fatalf("push answer %+v, want alice online on one node", res)
	}
	if p := c.expectPush(`{"n":1}`); p == "" {
		t.Fatal("no pos")
	}

	// Presence and stats answer for the whole cluster.
	if p := a.Presence("alice"); !p.Online || p.Connections != 1 {
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
	c.expectPush(`"all"`)
	c2.expectPush(`"all"`)
	// Once: the next message after it is the next broadcast, not a copy.
	if _, err := a.Broadcast(context.Background(), json.RawMessage(`"next"`)); err != nil {
		t.Fatal(err)
	}
	c.expectPush(`"next"`)
	c2.expectPush(`"next"`)
}

func TestClusterRoomSpansNodes(t *testing.T) {
	r, a, b := startPair(t)
	ca, _ := dialAs(t, a, "?user=ann", "")
	cb, _ := dialAs(t, b, "?user=ben", "")
	for i, c := range []*client{ca, cb} {
		c.sendJSON(`{"type":"join","room":"chat","ref":` + strconv.Itoa(i) + `}`)
		c.expectJSON("ack")
	}
	r.waitSubs(chRoom+"chat", 2)

	n, err := a.Publish(context.Background(), "chat", json.RawMessage(`"from the API"`))
	if err != nil || n != 2 {
		t.Fatalf("publish reached %d nodes, %v; want 2", n, err)
	}
	ca.expectPush(`"from the API"`)
	cb.expectPush(`"from the API"`)
	// Once: what comes next is the client's publish below, not a copy.

	// A client's publish on b reaches a's member too, with from.
	cb.sendJSON(`{"type":"publish","room":"chat","data":"hi","ref":9}`)
	cb.expectJSON("ack")
	for _, c := range []*client{ca, cb} {
		m := c.expectJSON("push")
		if m["data"] != "hi" || m["from"] != "ben" || m["room"] != "chat" {
			t.Fatalf("room message %v", m)
		}
	}

	// The last member on b leaves: b unsubscribes.
	cb.nc.Close()
	r.waitSubs(chRoom+"chat", 1)
}

func TestClusterResumeOnAnotherNodeRecoversExactlyTheMissed(t *testing.T) {
	r, a, b := startPair(t)
	c, _ := dialAs(t, b, "?user=dora", "")
	r.waitSubs(chUser+"dora", 1)
	if _, err := a.Push(context.Background(), []string{"dora"}, json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
	seen := c.expectPush(`1`)

	c.nc.Close()
	r.waitSubs(chUser+"dora", 0)
	for _, d := range []string{`2`, `3`} {
		if _, err := a.Push(context.Background(), []string{"dora"}, json.RawMessage(d)); err != nil {
			t.Fatal(err)
		}
	}

	c, _ = dialAs(t, a, "?user=dora&resume=1", "")
	c.sendJSON(`{"type":"resume","user_pos":"` + seen + `","ref":1}`)
	c.expectPush(`2`)
	c.expectPush(`3`)
	c.expectJSON("ack")

	// Then live messages, from either node.
	r.waitSubs(chUser+"dora", 1)
	if _, err := b.Push(context.Background(), []string{"dora"}, json.RawMessage(`4`)); err != nil {
		t.Fatal(err)
	}
	c.expectPush(`4`)

	// A position from before this Redis's history is a gap.
	c2, _ := dialAs(t, b, "?user=dora&resume=1", "")
	c2.sendJSON(`{"type":"resume","user_pos":"1-0","ref":2}`)
	c2.expectJSON("gap")
	c2.expectJSON("ack")
}

func TestClusterSurvivesARedisRestart(t *testing.T) {
	r, a, b := startPair(t)
	api := a.APIHandler()
	cb, _ := dialAs(t, b, "?user=eve", "")
	ca, _ := dialAs(t, a, "?user=fay", "")
	r.waitSubs(chUser+"eve", 1)

	r.kill()
	// Local pushes still reach local clients, and are counted.
	waitFor(t, 10*time.Second, func() error {
		if a.cl.up.Load() {
			return fmt.Errorf("a has not noticed the outage")
		}
		return nil
	})
	if _, err := a.Push(context.Background(), []string{"fay"}, json.RawMessage(`"local"`)); err != nil {
		t.Fatal(err)
	}
	ca.expectPush(`"local"`)
	if a.cl.localOnly.Load() == 0 {
		t.Fatal("a local-only push was not counted")
	}
	if body := getBody(t, api, "/healthz"); !json.Valid([]byte(body)) || !strings.Contains(body, `"redis":"down"`) {
		t.Fatalf("healthz during the outage: %s", body)
	}
	if body := getBody(t, api, "/metrics"); !strings.Contains(body, "wspush_redis_up 0") {
		t.Fatal("metrics do not show the outage")
	}

	r.start()
	waitFor(t, 20*time.Second, func() error {
		if !a.cl.up.Load() || !b.cl.up.Load() {
			return fmt.Errorf("the nodes have not reconnected")
		}
		return nil
	})
	r.waitSubs(chUser+"eve", 1) // go-redis subscribed again
	if _, err := a.Push(context.Background(), []string{"eve"}, json.RawMessage(`"back"`)); err != nil {
		t.Fatal(err)
	}
	cb.expectPush(`"back"`)
	// Presence is written again after Redis lost it.
	waitFor(t, 10*time.Second, func() error {
		if p := a.Presence("eve"); p.Connections != 1 {
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
	r.waitSubs(chUser+"gus", 1)
	waitFor(t, 5*time.Second, func() error {
		if p := a.Presence("gus"); p.Connections != 1 {
			return fmt.Errorf("presence %+v", p)
		}
		return nil
	})
	// The node dies: its heartbeat stops and its process's Redis
	// connections close, but its presence hash entry stays.
	b.cl.close()
	r.rdb.ZAdd(context.Background(), keyNodes, redis.Z{Score: 1, Member: "b"}) // as if its last beat was long ago
	if p := a.Presence("gus"); p.Connections != 0 || p.Online {
		t.Fatalf("ghost: %+v", p)
	}
	c.nc.Close()
}

// getBody serves GET path on h and returns the body.
func getBody(t *testing.T, h http.Handler, path string) string {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "http://127.0.0.1"+path, nil)) // a keyless API answers loopback hosts only
	return w.Body.String()
}

func TestClusterRoomMembersAndKicksThroughOneNodeReachAnother(t *testing.T) {
	r, a, b := startPair(t)
	c, _ := dialAs(t, b, "?user=hal", "")
	r.waitSubs(chUser+"hal", 1)
	if _, err := a.AddToRoom(context.Background(), "ops", []string{"hal"}); err != nil {
		t.Fatal(err)
	}
	r.waitSubs(chRoom+"ops", 1)
	if _, err := a.Publish(context.Background(), "ops", json.RawMessage(`"deploy"`)); err != nil {
		t.Fatal(err)
	}
	c.expectPush(`"deploy"`)

	if _, err := a.Kick(context.Background(), "hal"); err != nil {
		t.Fatal(err)
	}
	if d := c.expectJSON("disconnect"); d["code"] != 4500.0 {
		t.Fatalf("disconnect %v", d)
	}
}

// TestClusterPushLatency measures a push made through node a's Push until
// a client of node b has read it, against the same on one node without
// Redis. It reports figures and asserts nothing about them.
func TestClusterPushLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("a measurement")
	}
	r, a, b := startPair(t)
	single := startPlain(t, historyConfig())
	cb, _ := dialAs(t, b, "?user=lat", "")
	cs, _ := dialAs(t, single, "?user=lat", "")
	r.waitSubs(chUser+"lat", 1)
	measure := func(s *Server, c *client) (p50, p99 time.Duration) {
		const n = 1000
		ds := make([]time.Duration, n)
		for i := range n {
			start := time.Now()
			if _, err := s.Push(context.Background(), []string{"lat"}, json.RawMessage(`"x"`)); err != nil {
				t.Fatal(err)
			}
			c.expectPush(`"x"`)
			ds[i] = time.Since(start)
		}
		slices.Sort(ds)
		return ds[n/2], ds[n*99/100]
	}
	p50, p99 := measure(a, cb)
	s50, s99 := measure(single, cs)
	t.Logf("push to a client of another node through Redis: p50 %v p99 %v; one node: p50 %v p99 %v", p50, p99, s50, s99)
}

func TestClusterWithoutHistoryPushesCarryNoPos(t *testing.T) {
	r := startRedis(t)
	a := startNode(t, r, "a", Config{})
	b := startNode(t, r, "b", Config{})
	c, _ := dialAs(t, b, "?user=ivy&resume=1", "") // no history: nothing is held
	r.waitSubs(chUser+"ivy", 1)
	if _, err := a.Push(context.Background(), []string{"ivy"}, json.RawMessage(`"plain"`)); err != nil {
		t.Fatal(err)
	}
	if p := c.expectPush(`"plain"`); p != "" {
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

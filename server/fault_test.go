package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/redistest"
)

// Fault tests: two wspush nodes in processes of their own (this test
// binary, run as a node: TestMain) and a real redis-server, clients that
// resume exactly as docs/protocol.md says, and pushes with sequence
// numbers through both nodes' APIs, while Redis is stopped (SIGSTOP) and
// killed (SIGKILL), a node's connection to Redis is cut, and a node is
// killed and restarted. Afterwards every push the API acknowledged must
// have reached its user once and in order, or the user must have been
// told of a gap where it is missing (docs/cluster.md, "The contract").

// faultNodeEnv, set in a child's environment, makes the test binary run a
// node with the JSON Config it holds instead of the tests.
const faultNodeEnv = "WSPUSH_FAULT_NODE"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(faultNodeEnv); cfg != "" {
		os.Exit(runFaultNode(cfg))
	}
	if os.Getenv(benchHookEnv) != "" {
		os.Exit(runBenchHook())
	}
	os.Exit(m.Run())
}

// faultNodeConfig is what a node process runs with.
type faultNodeConfig struct {
	Addr, APIAddr, Redis, Node string
	HistorySize                int
	HistoryTTL                 time.Duration
	// The Redis passwords and --redis-replicas (sentinel_test.go); Log
	// sends the node's log to its stderr (nodeProc.logs).
	RedisPassword, RedisSentinelPassword string
	RedisReplicas                        int
	Log                                  bool
}

// runFaultNode serves until SIGTERM. Once it accepts connections it says
// "READY", its WebSocket address and its API address on a line of stdout;
// if a port it was given is taken, it says "ADDRINUSE" and exits.
func runFaultNode(js string) int {
	var fc faultNodeConfig
	if err := json.Unmarshal([]byte(js), &fc); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var logger *slog.Logger
	if fc.Log {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s := New(Config{ConnConfig: ConnConfig{Addr: fc.Addr,
		MaxRate:      -1,
		PingInterval: time.Hour, IdleTimeout: 2 * time.Hour, Logger: logger}, APIAddr: fc.APIAddr, Redis: fc.Redis, Node: fc.Node,
		HistorySize: fc.HistorySize, HistoryTTL: fc.HistoryTTL,
		RedisPassword: fc.RedisPassword, RedisSentinelPassword: fc.RedisSentinelPassword, RedisReplicas: fc.RedisReplicas,
	})
	errc := make(chan error, 1)
	go func() { errc <- s.Serve() }()
	select {
	case err := <-errc:
		if errors.Is(err, syscall.EADDRINUSE) {
			fmt.Println("ADDRINUSE")
		}
		fmt.Fprintln(os.Stderr, err)
		return 1
	case <-s.Ready():
	}
	fmt.Println("READY", s.Addr(), s.APIAddr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.Shutdown(ctx)
	return 0
}

// nodeProc is a node in a process of its own.
type nodeProc struct {
	t   *testing.T
	cfg faultNodeConfig // without addresses: start chooses them
	cmd *exec.Cmd

	mu        sync.Mutex
	addr, api string // where the node listens; empty before the first start
	stderr    []*strings.Builder
}

// logs is what the node's processes wrote on stderr; call it once they
// are killed.
func (n *nodeProc) logs() string {
	var b strings.Builder
	for _, s := range n.stderr {
		b.WriteString(s.String())
	}
	return b.String()
}

// errAddrInUse is a node's answer when a port it was given is taken.
var errAddrInUse = errors.New("a port of the node is taken")

func startNodeProc(t *testing.T, r *redistest.Server, name string) *nodeProc {
	t.Helper()
	n := &nodeProc{t: t, cfg: faultNodeConfig{Redis: r.URL(), Node: name, HistorySize: 1000, HistoryTTL: 10 * time.Minute}}
	n.start()
	t.Cleanup(n.kill)
	return n
}

// wsAddr and apiAddr are where the node listens now. Clients and pushers
// read them on every call: a restart may move the node.
func (n *nodeProc) wsAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.addr
}

func (n *nodeProc) apiAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.api
}

// start starts the node on ports of the kernel's choosing (127.0.0.1:0),
// or, when it ran before, on the ports it had, as a restarted node binds
// its old port. Those were the node's only while it ran: if another
// process took one in the meantime, the node starts on new ports instead
// and says so in the test's log; clients and pushers follow it there.
func (n *nodeProc) start() {
	n.t.Helper()
	const anyPort = "127.0.0.1:0"
	cfg := n.cfg
	cfg.Addr, cfg.APIAddr = n.wsAddr(), n.apiAddr()
	if cfg.Addr == "" {
		cfg.Addr, cfg.APIAddr = anyPort, anyPort
	}
	addr, api, err := n.run(cfg)
	if errors.Is(err, errAddrInUse) && (cfg.Addr != anyPort || cfg.APIAddr != anyPort) {
		n.t.Logf("node %s: a port it had on %s and %s was taken while it was down: it moves to new ones", n.cfg.Node, cfg.Addr, cfg.APIAddr)
		cfg.Addr, cfg.APIAddr = anyPort, anyPort
		addr, api, err = n.run(cfg)
	}
	if err != nil {
		n.t.Fatalf("node %s: %v", n.cfg.Node, err)
	}
	n.mu.Lock()
	n.addr, n.api = addr, api
	n.mu.Unlock()
}

// run runs the node with cfg and returns the addresses it reports once it
// accepts connections.
func (n *nodeProc) run(cfg faultNodeConfig) (addr, api string, err error) {
	js, _ := json.Marshal(cfg)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), faultNodeEnv+"="+string(js))
	stderr := &strings.Builder{}
	cmd.Stderr = stderr
	n.stderr = append(n.stderr, stderr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", "", err
	}
	if err := cmd.Start(); err != nil {
		return "", "", err
	}
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Scan()
		first <- sc.Text()
		_, _ = io.Copy(io.Discard, out)
	}()
	var line string
	select {
	case line = <-first:
	case <-time.After(15 * time.Second):
		line = "no start line within 15 s"
	}
	if f := strings.Fields(line); len(f) == 3 && f[0] == "READY" {
		n.cmd = cmd
		return f[1], f[2], nil
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if line == "ADDRINUSE" {
		return "", "", errAddrInUse
	}
	return "", "", fmt.Errorf("did not start: %q %s", line, stderr.String())
}

// kill kills the node with SIGKILL.
func (n *nodeProc) kill() {
	if n.cmd != nil && n.cmd.Process != nil {
		_ = n.cmd.Process.Kill()
		_ = n.cmd.Wait()
		n.cmd = nil
	}
}

// A node restarted on its old ports, one of which another process took
// while it was down, moves to new ones, and the harness follows it. (The
// name puts it in the fault tests' pass: make race.)
func TestFaultsHarnessMovesANodeOffATakenPort(t *testing.T) {
	if testing.Short() {
		t.Skip("fault harness: runs in the non-race pass with the fault test")
	}
	r := redistest.Start(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	held := taken.Addr().String()
	for _, old := range [][2]string{{held, "127.0.0.1:0"}, {"127.0.0.1:0", held}} {
		n := &nodeProc{t: t, cfg: faultNodeConfig{Redis: r.URL(), Node: "a"}, addr: old[0], api: old[1]}
		t.Cleanup(n.kill)
		n.start()
		if n.wsAddr() == held || n.apiAddr() == held {
			t.Fatalf("started on %s and %s, and the test holds %s", n.wsAddr(), n.apiAddr(), held)
		}
		nc, _, _, err := ws.Dial(context.Background(), "ws://"+n.wsAddr()+"/ws?user=u")
		if err != nil {
			t.Fatalf("the moved node: %v", err)
		}
		nc.Close()
		resp, err := http.Get("http://" + n.apiAddr() + "/healthz")
		if err != nil {
			t.Fatalf("the moved node's API: %v", err)
		}
		resp.Body.Close()
		n.kill()
	}
}

// faultClient is a client that resumes as docs/protocol.md says: it
// reconnects with resume=1 to either node, sends its last position, drops
// nothing itself, and records what it receives.
type faultClient struct {
	user  string
	nodes []*nodeProc

	mu    sync.Mutex
	last  history.Pos
	seqs  []int          // received, in order
	gaps  []int          // the number of seqs received before each gap notice
	dups  int            // pushes at or before the last position: must not happen
	down  [][2]time.Time // intervals without a connection
	since time.Time      // start of the current interval without one; zero while connected
	maxed int            // the highest seq received
}

func (c *faultClient) run(ctx context.Context) {
	for i := 0; ctx.Err() == nil; i++ {
		n := c.nodes[i%len(c.nodes)]
		c.session(ctx, n)
		if ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func (c *faultClient) setUp(up bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if up && !c.since.IsZero() {
		c.down = append(c.down, [2]time.Time{c.since, now})
		c.since = time.Time{}
	} else if !up && c.since.IsZero() {
		c.since = now
	}
}

// session is one connection, until it fails or ctx ends.
func (c *faultClient) session(ctx context.Context, n *nodeProc) {
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	nc, br, _, err := ws.Dial(dctx, "ws://"+n.wsAddr()+"/ws?user="+c.user+"&resume=1")
	cancel()
	if err != nil {
		return
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	var rd io.Reader = nc
	if br != nil {
		rd = io.MultiReader(br, nc)
	}
	c.mu.Lock()
	resume := `{"type":"resume","ref":1}`
	if c.last != 0 {
		resume = `{"type":"resume","user_pos":"` + c.last.String() + `","ref":1}`
	}
	c.mu.Unlock()
	if err := wsutil.WriteClientText(nc, []byte(resume)); err != nil {
		return
	}
	for {
		p, op, err := wsutil.ReadServerData(struct {
			io.Reader
			io.Writer
		}{rd, nc})
		if err != nil {
			c.setUp(false)
			return
		}
		if op != ws.OpText {
			continue
		}
		var m struct {
			Type string `json:"type"`
			Pos  string `json:"pos"`
			Data struct {
				Seq int `json:"seq"`
			} `json:"data"`
		}
		if json.Unmarshal(p, &m) != nil {
			continue
		}
		switch m.Type {
		case "ack":
			c.setUp(true)
		case "push":
			pos, _ := history.ParsePos(m.Pos)
			c.mu.Lock()
			if pos <= c.last {
				c.dups++
			} else {
				c.last = pos
				c.seqs = append(c.seqs, m.Data.Seq)
				c.maxed = max(c.maxed, m.Data.Seq)
			}
			c.mu.Unlock()
		case "gap":
			pos, _ := history.ParsePos(m.Pos)
			c.mu.Lock()
			c.gaps = append(c.gaps, len(c.seqs))
			c.last = max(c.last, pos)
			c.mu.Unlock()
		}
	}
}

// ack is one push the API answered 200.
type ack struct {
	seq      int
	at, done time.Time
	offline  bool
}

// pusher pushes seq 1, 2, ... to user through the nodes in turn, each until
// it is acknowledged (retrying with the same id after a 503), one at a
// time so that the user's order is the seqs'.
type pusher struct {
	user    string
	nodes   []*nodeProc
	acks    []ack
	slowest time.Duration
	calls   int
	refused int      // answered 503 with a Retry-After
	odd     []string // answered anything else but 200
}

func (p *pusher) run(ctx context.Context, every time.Duration) {
	client := &http.Client{Timeout: 10 * time.Second}
	for seq := 1; ctx.Err() == nil; seq++ {
		body := fmt.Sprintf(`{"id":"%s-%d","users":["%s"],"data":{"seq":%d}}`, p.user, seq, p.user, seq)
		for try := 0; ctx.Err() == nil; try++ {
			n := p.nodes[(seq+try)%len(p.nodes)]
			start := time.Now()
			resp, err := client.Post("http://"+n.apiAddr()+"/v1/push", "application/json", strings.NewReader(body))
			took := time.Since(start)
			if err != nil {
				time.Sleep(100 * time.Millisecond) // the node is down
				continue
			}
			p.calls++
			p.slowest = max(p.slowest, took)
			var res PushResult
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && json.Unmarshal(b, &res) == nil {
				p.acks = append(p.acks, ack{seq: seq, at: start, done: start.Add(took), offline: len(res.Offline) > 0})
				break
			}
			if resp.StatusCode == 503 && resp.Header.Get("Retry-After") != "" {
				p.refused++
			} else {
				p.odd = append(p.odd, resp.Status+" "+string(b))
			}
			time.Sleep(100 * time.Millisecond) // 503: retry with the same id
		}
		select {
		case <-ctx.Done():
		case <-time.After(every):
		}
	}
}

// cutRedisConnections kills the Redis connections of node (its
// subscriber among them), as a network cut between the two would.
func cutRedisConnections(t *testing.T, r *redistest.Server, node string) {
	t.Helper()
	list, err := r.Client.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " name=wspush-"+node+" ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				if r.Client.Do(context.Background(), "CLIENT", "KILL", "ID", id).Err() == nil {
					n++
				}
			}
		}
	}
	_ = n // none, now and then: go-redis has not connected again yet
}

func TestFaultsLoseNoAcknowledgedPush(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: runs in the non-race pass")
	}
	r := redistest.Start(t)
	a := startNodeProc(t, r, "a")
	b := startNodeProc(t, r, "b")
	nodes := []*nodeProc{a, b}

	const users = 10
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	clients := make([]*faultClient, users)
	for i := range clients {
		c := &faultClient{user: "u" + strconv.Itoa(i), nodes: []*nodeProc{nodes[i%2], nodes[(i+1)%2]}, since: time.Now()}
		clients[i] = c
		wg.Go(func() { c.run(ctx) })
	}
	waitFor(t, 10*time.Second, func() error {
		for _, c := range clients {
			c.mu.Lock()
			up := c.since.IsZero()
			c.mu.Unlock()
			if !up {
				return fmt.Errorf("%s is not connected", c.user)
			}
		}
		return nil
	})
	for _, u := range clients {
		r.WaitSubs("wspush:u:"+u.user, 1)
	}

	pctx, stopPush := context.WithCancel(ctx)
	pushers := make([]*pusher, users)
	var pwg sync.WaitGroup
	for i := range pushers {
		p := &pusher{user: clients[i].user, nodes: nodes}
		pushers[i] = p
		pwg.Go(func() { p.run(pctx, 100*time.Millisecond) })
	}
	step := func(what string, d time.Duration, f func()) {
		t.Log(what)
		f()
		time.Sleep(d)
	}
	time.Sleep(time.Second)
	step("redis stopped (SIGSTOP) for 3 s", 3*time.Second, r.Stop)
	step("redis continued", 2*time.Second, r.Cont)
	step("node a's connections to Redis cut again and again for 1.5 s", time.Second, func() {
		for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(30 * time.Millisecond) {
			cutRedisConnections(t, r, "a")
		}
	})
	step("node b killed (SIGKILL)", 2*time.Second, b.kill)
	step("node b restarted", 2*time.Second, b.start)
	step("redis killed (SIGKILL)", 2*time.Second, r.Kill)
	step("redis restarted, empty", 3*time.Second, r.Restart)
	stopPush()
	pwg.Wait()

	// Every acknowledged push arrives, unless its user was told of a gap
	// where it is missing.
	waitForLastAcks(t, clients, pushers)
	cancel()
	wg.Wait()

	total, gaps := 0, 0
	for i, p := range pushers {
		c := clients[i]
		total += len(p.acks)
		gaps += len(c.gaps)
		if c.dups != 0 {
			t.Errorf("%s: %d pushes at or before a position already seen", c.user, c.dups)
		}
		for k := 1; k < len(c.seqs); k++ {
			if c.seqs[k] <= c.seqs[k-1] {
				t.Errorf("%s: seq %d after %d", c.user, c.seqs[k], c.seqs[k-1])
			}
		}
		got := map[int]int{} // seq -> index received
		for k, s := range c.seqs {
			got[s] = k
		}
		for _, a := range p.acks {
			if _, ok := got[a.seq]; ok {
				continue
			}
			if !toldOfGap(c, a.seq) {
				t.Errorf("%s: acknowledged seq %d never arrived and no gap was announced where it is missing (received %v, gaps after %v)",
					c.user, a.seq, c.seqs, c.gaps)
			}
		}
		for _, a := range p.acks {
			if a.offline && !disconnectedAround(c, a.at) {
				t.Errorf("%s: seq %d answered offline while the user was connected", c.user, a.seq)
			}
		}
		// The API answers within its bound even while Redis hangs:
		// 2 s for Redis, plus the call's own work.
		if p.slowest > 4*time.Second {
			t.Errorf("%s: an API call took %v", c.user, p.slowest)
		}
	}
	t.Logf("%d pushes acknowledged, %d gap notices", total, gaps)
	if total < users*20 {
		t.Fatalf("only %d pushes were acknowledged: the cluster did not recover", total)
	}
}

// toldOfGap reports whether c got a gap notice between the last seq it
// received before seq and the first after.
func toldOfGap(c *faultClient, seq int) bool {
	before := 0 // seqs received before seq would have come
	for _, s := range c.seqs {
		if s < seq {
			before++
		}
	}
	for _, g := range c.gaps {
		if g == before {
			return true
		}
	}
	return false
}

// disconnectedAround reports whether c had no connection within a second
// of t (presence lags a node's death by its timeout).
func disconnectedAround(c *faultClient, t time.Time) bool {
	for _, d := range c.down {
		if !t.Before(d[0].Add(-time.Second)) && !t.After(d[1].Add(time.Second)) {
			return true
		}
	}
	return !c.since.IsZero() && !t.Before(c.since.Add(-time.Second))
}

// waitForLastAcks waits until each client has received up to the last
// push its pusher had acknowledged (or been told of a gap past it).
func waitForLastAcks(t *testing.T, clients []*faultClient, pushers []*pusher) {
	t.Helper()
	waitFor(t, 20*time.Second, func() error {
		for i, p := range pushers {
			if len(p.acks) == 0 {
				continue
			}
			c := clients[i]
			c.mu.Lock()
			got := c.maxed
			c.mu.Unlock()
			if want := p.acks[len(p.acks)-1].seq; got < want {
				return fmt.Errorf("%s: last seq %d, want %d", c.user, got, want)
			}
		}
		return nil
	})
}

package server

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/redistest"
)

// The Redis Cluster tests (issue 20): the recipe of
// docs/deploy/redis/cluster (three primaries, three replicas) in real
// redis-server processes, created with redis-cli --cluster create.

func startRedisCluster(t *testing.T) *redistest.RedisCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("Redis Cluster test: runs in the non-race pass")
	}
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skip(bin + " is not installed (make deps installs it): the Redis Cluster tests need it")
		}
	}
	return redistest.StartCluster(t, "../docs/deploy/redis/cluster")
}

// shardChannel finds the shard channel of stream ("u:USER", "r:ROOM") on
// the primaries: its name, the primary that has it and its subscribers
// there; "" when no primary has it.
func shardChannel(rc *redistest.RedisCluster, stream string) (string, *redistest.Proc, int64) {
	ctx := context.Background()
	for _, p := range rc.Primaries() {
		chs, err := p.Client.PubSubShardChannels(ctx, "*}:"+stream).Result()
		if err != nil {
			continue
		}
		for _, ch := range chs {
			if strings.HasSuffix(ch, "}:"+stream) {
				n, _ := p.Client.PubSubShardNumSub(ctx, ch).Result()
				return ch, p, n[ch]
			}
		}
	}
	return "", nil, 0
}

// waitShardSubs waits until stream's shard channel has n subscribers.
func waitShardSubs(t *testing.T, rc *redistest.RedisCluster, stream string, n int64) {
	t.Helper()
	waitFor(t, 10*time.Second, func() error {
		if _, _, got := shardChannel(rc, stream); got != n {
			return fmt.Errorf("%s has %d subscribers, want %d", stream, got, n)
		}
		return nil
	})
}

// Everything that works on one Redis works on Redis Cluster, through
// three nodes: pushes, rooms, broadcasts, presence, history, resume,
// kicks; the users' streams and channels spread over the three
// primaries, and every channel is a shard channel.
func TestRedisClusterCarriesEverything(t *testing.T) {
	rc := startRedisCluster(t)
	node := func(name string) *Server {
		return startPlain(t, Config{Redis: rc.URL(), RedisPassword: rc.Password, Node: name, HistorySize: 100, HistoryTTL: time.Minute})
	}
	a, b, c := node("a"), node("b"), node("c")
	nodes := []*Server{a, b, c}
	ctx := context.Background()

	var users []string
	clients := map[string]*client{}
	for i := range 12 {
		u := "user" + strconv.Itoa(i)
		users = append(users, u)
		clients[u], _ = dialAs(t, nodes[i%3], "?user="+u+"&resume=1", "")
		clients[u].SendJSON(`{"type":"resume","ref":1}`)
		clients[u].ExpectJSON("ack")
	}
	owners := map[int]int{}
	for _, u := range users {
		waitShardSubs(t, rc, "u:"+u, 1)
		_, p, _ := shardChannel(rc, "u:"+u)
		owners[p.Port]++
	}
	if len(owners) != 3 {
		t.Fatalf("the users' shard channels are on %d primaries (%v), want all 3", len(owners), owners)
	}

	// A push to users of every primary, through one node.
	res, err := a.Push(ctx, append(append([]string{}, users...), "ghost"), json.RawMessage(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.Delivered != len(users) || len(res.Online) != len(users) {
		t.Fatalf("push answer %+v", res)
	}
	pos := map[string]string{}
	for _, u := range users {
		pos[u] = clients[u].ExpectPush(`{"n":1}`)
	}
	streams := map[int]int{}
	for _, p := range rc.Primaries() {
		keys, err := p.Client.Keys(ctx, "wspush:{*}:h:u:user*").Result()
		if err != nil {
			t.Fatal(err)
		}
		streams[p.Port] = len(keys)
	}
	total := 0
	for port, n := range streams {
		total += n
		if n == 0 {
			t.Fatalf("primary %d keeps no user stream: %v", port, streams)
		}
	}
	if total != len(users) {
		t.Fatalf("%d user streams on the primaries, want %d: %v", total, len(users), streams)
	}
	// No classic channel but the partitions' anchors (on which nothing
	// is published): users, rooms, broadcasts and control are all shard
	// channels.
	for _, p := range rc.Primaries() {
		chs, _ := p.Client.PubSubChannels(ctx, "*").Result()
		for _, ch := range chs {
			if !strings.HasPrefix(ch, "wspush:{") || !strings.HasSuffix(ch, "}:a") {
				t.Fatalf("a classic channel on %s: %s", p.Addr(), ch)
			}
		}
		if n, _ := p.Client.PubSubNumSub(ctx, "wspush:u:"+users[0]).Result(); n["wspush:u:"+users[0]] != 0 {
			t.Fatalf("a classic user channel on %s", p.Addr())
		}
	}

	// Presence through any node.
	if p := c.Presence(ctx, users[1]); !p.Online || p.Connections != 1 {
		t.Fatalf("presence %+v", p)
	}
	// Rooms: members on two nodes, a publish through the third.
	if _, err := a.AddToRoom(ctx, "chat", []string{users[0], users[1]}); err != nil {
		t.Fatal(err)
	}
	waitShardSubs(t, rc, "r:chat", 2)
	if n, err := c.Publish(ctx, "chat", json.RawMessage(`"room"`)); err != nil || n != 2 {
		t.Fatalf("publish reached %d nodes, %v", n, err)
	}
	clients[users[0]].ExpectPush(`"room"`)
	clients[users[1]].ExpectPush(`"room"`)
	// A broadcast reaches everyone once.
	if _, err := b.Broadcast(ctx, json.RawMessage(`"all"`)); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		clients[u].ExpectPush(`"all"`)
	}

	// Resume on another node: exactly what was missed.
	u := users[4]
	clients[u].NC.Close()
	waitShardSubs(t, rc, "u:"+u, 0)
	for _, d := range []string{`2`, `3`} {
		if _, err := b.Push(ctx, []string{u}, json.RawMessage(d)); err != nil {
			t.Fatal(err)
		}
	}
	// The history API, through a node that never held the user.
	body := getBody(t, c.APIHandler(), "/v1/users/"+u+"/history?since="+pos[u])
	if !strings.Contains(body, `"data":2`) || !strings.Contains(body, `"data":3`) || strings.Contains(body, `"n":1`) {
		t.Fatalf("history after %s: %s", pos[u], body)
	}
	cl, _ := dialAs(t, c, "?user="+u+"&resume=1", "")
	cl.SendJSON(`{"type":"resume","user_pos":"` + pos[u] + `","ref":1}`)
	cl.ExpectPush(`2`)
	cl.ExpectPush(`3`)
	cl.ExpectJSON("ack")
	waitShardSubs(t, rc, "u:"+u, 1)
	if _, err := a.Push(ctx, []string{u}, json.RawMessage(`4`)); err != nil {
		t.Fatal(err)
	}
	cl.ExpectPush(`4`)

	// A kick through one node closes the user on another.
	if _, err := a.Kick(ctx, users[2]); err != nil {
		t.Fatal(err)
	}
	if d := clients[users[2]].ExpectJSON("disconnect"); d["code"] != 4500.0 {
		t.Fatalf("disconnect %v", d)
	}
}

// A primary of the Redis Cluster SIGKILLed mid-traffic, three wspush
// nodes in processes of their own, clients that resume as
// docs/protocol.md says, pushes with sequence numbers through every
// node's API: afterwards every push answered 200 arrived once and in
// order, or its user was told of a gap where it is missing; pushes were
// refused only with 503 and Retry-After; no call took longer than its
// bound. The window is measured and logged.
func TestFaultsRedisClusterFailoverLosesNoAcknowledgedPush(t *testing.T) {
	rc := startRedisCluster(t)
	node := func(name string) *nodeProc {
		n := &nodeProc{t: t, cfg: faultNodeConfig{Redis: rc.URL(), Node: name, HistorySize: 1000, HistoryTTL: 10 * time.Minute,
			RedisPassword: rc.Password, Log: true}}
		n.start()
		t.Cleanup(n.kill)
		return n
	}
	nodes := []*nodeProc{node("a"), node("b"), node("c")}

	const users = 12
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	clients := make([]*faultClient, users)
	for i := range clients {
		c := &faultClient{user: "u" + strconv.Itoa(i), nodes: []*nodeProc{nodes[i%3], nodes[(i+1)%3]}, since: time.Now()}
		clients[i] = c
		wg.Go(func() { c.run(ctx) })
	}
	owners := map[*redistest.Proc][]string{}
	for _, c := range clients {
		waitShardSubs(t, rc, "u:"+c.user, 1)
		ch, p, _ := shardChannel(rc, "u:"+c.user)
		owners[p] = append(owners[p], ch)
	}

	pctx, stopPush := context.WithCancel(ctx)
	pushers := make([]*pusher, users)
	var pwg sync.WaitGroup
	for i := range pushers {
		p := &pusher{user: clients[i].user, nodes: nodes}
		pushers[i] = p
		pwg.Go(func() { p.run(pctx, 50*time.Millisecond) })
	}
	time.Sleep(2 * time.Second)
	var victim *redistest.Proc
	for p := range owners {
		if victim == nil || len(owners[p]) > len(owners[victim]) {
			victim = p
		}
	}
	t.Logf("primary %s (the shard channels of %d of %d users) killed (SIGKILL)", victim.Addr(), len(owners[victim]), users)
	killed := time.Now()
	victim.Kill()
	promoted := rc.WaitFailover(victim, owners[victim][0], 30*time.Second)
	t.Logf("Redis Cluster promoted %s after %v", promoted.Addr(), time.Since(killed).Round(time.Millisecond))
	waitFor(t, 30*time.Second, func() error {
		for _, p := range pushers {
			if len(p.acks) == 0 || p.acks[len(p.acks)-1].at.Before(killed) {
				return fmt.Errorf("%s has no 200 since the kill", p.user)
			}
		}
		return nil
	})
	time.Sleep(3 * time.Second)
	stopPush()
	pwg.Wait()

	waitForLastAcks(t, clients, pushers)
	cancel()
	wg.Wait()
	affected := map[string]bool{}
	for _, ch := range owners[victim] {
		affected[ch[strings.LastIndex(ch, ":u:")+3:]] = true
	}
	checkFailover(t, "Redis Cluster", killed, clients, pushers, affected)
	for _, n := range nodes {
		n.kill()
		if strings.Contains(n.logs(), rc.Password) {
			t.Errorf("node %s shows the Redis password in its log", n.cfg.Node)
		}
	}
}

// checkFailover checks what a failover test promises of every push and
// logs the window: for the users in affected (nil: all), the time from
// the kill to the first 200 of a call made after it.
func checkFailover(t *testing.T, what string, killed time.Time, clients []*faultClient, pushers []*pusher, affected map[string]bool) {
	t.Helper()
	total, gaps, refused, calls, lost := 0, 0, 0, 0, 0
	var first time.Time // the first 200 of a call made after the kill
	var slowest time.Duration
	for i, p := range pushers {
		c := clients[i]
		total += len(p.acks)
		gaps += len(c.gaps)
		refused += p.refused
		calls += p.calls
		slowest = max(slowest, p.slowest)
		for _, o := range p.odd {
			t.Errorf("%s: a push answered %s: only 200 or 503 with Retry-After may be", c.user, o)
		}
		if c.dups != 0 {
			t.Errorf("%s: %d pushes at or before a position already seen", c.user, c.dups)
		}
		for k := 1; k < len(c.seqs); k++ {
			if c.seqs[k] <= c.seqs[k-1] {
				t.Errorf("%s: seq %d after %d", c.user, c.seqs[k], c.seqs[k-1])
			}
		}
		got := map[int]bool{}
		for _, s := range c.seqs {
			got[s] = true
		}
		for _, a := range p.acks {
			if (affected == nil || affected[c.user]) && !a.at.Before(killed) && (first.IsZero() || a.done.Before(first)) {
				first = a.done
			}
			if got[a.seq] {
				continue
			}
			lost++
			if !toldOfGap(c, a.seq) {
				t.Errorf("%s: acknowledged seq %d never arrived and no gap was announced where it is missing (received %v, gaps after %v)",
					c.user, a.seq, c.seqs, c.gaps)
			}
		}
		if p.slowest > 4*time.Second {
			t.Errorf("%s: an API call took %v", c.user, p.slowest)
		}
	}
	t.Logf("%s failover window: %v from the primary's SIGKILL to the first 200 of a call made after it (by a user of that primary, on Redis Cluster); "+
		"%d of %d calls refused (503, Retry-After), %d acknowledged, %d acknowledged but missing (each behind a gap notice), %d gap notices; slowest call %v",
		what, first.Sub(killed).Round(time.Millisecond), refused, calls, total, lost, gaps, slowest.Round(time.Millisecond))
}

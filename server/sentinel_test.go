package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/redistest"
)

// The Sentinel fault test (issue 20): the recipe of
// docs/deploy/redis/sentinel (a primary, a replica, three Sentinels) in
// real redis-server processes, two wspush nodes in processes of their own
// following it through redis+sentinel://, clients that resume as
// docs/protocol.md says, pushes with sequence numbers through both nodes'
// APIs, and the primary SIGKILLed mid-traffic, then a node. Afterwards every push
// answered 200 arrived once and in order, or its user was told of a gap
// where it is missing; pushes were refused only with 503 and Retry-After;
// no call took longer than its bound; and neither password shows in the
// nodes' logs or stats. The failover's window is measured and logged.
func TestFaultsSentinelFailoverLosesNoAcknowledgedPush(t *testing.T) {
	if testing.Short() {
		t.Skip("Sentinel fault test: runs in the non-race pass")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed (make deps installs it): the Sentinel fault test needs it")
	}
	s := redistest.StartReplicated(t, "../docs/deploy/redis/sentinel", 1, 3)
	node := func(name string) *nodeProc {
		n := &nodeProc{t: t, cfg: faultNodeConfig{Redis: s.URL(), Node: name, HistorySize: 1000, HistoryTTL: 10 * time.Minute,
			RedisPassword: s.Password, RedisSentinelPassword: s.SentinelPassword, Log: true}}
		n.start()
		t.Cleanup(n.kill)
		return n
	}
	a, b := node("a"), node("b")
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
			n, err := s.Primary.Client.PubSubNumSub(ctx, "wspush:u:"+c.user).Result()
			if err != nil || n["wspush:u:"+c.user] != 1 {
				return fmt.Errorf("%s is not subscribed: %v %v", c.user, n, err)
			}
		}
		return nil
	})

	pctx, stopPush := context.WithCancel(ctx)
	pushers := make([]*pusher, users)
	var pwg sync.WaitGroup
	for i := range pushers {
		p := &pusher{user: clients[i].user, nodes: nodes}
		pushers[i] = p
		pwg.Go(func() { p.run(pctx, 50*time.Millisecond) })
	}
	time.Sleep(2 * time.Second)
	old := s.Primary.Addr()
	t.Logf("primary %s killed (SIGKILL)", old)
	killed := time.Now()
	s.Primary.Kill()
	promoted := s.WaitFailover(old, 30*time.Second)
	t.Logf("the Sentinels promoted %s after %v", promoted, time.Since(killed).Round(time.Millisecond))
	// Until every pusher has a 200 again, then 3 s more of traffic.
	waitFor(t, 30*time.Second, func() error {
		for _, p := range pushers {
			if len(p.acks) == 0 || p.acks[len(p.acks)-1].at.Before(killed) {
				return fmt.Errorf("%s has no 200 since the kill", p.user)
			}
		}
		return nil
	})
	// Node a dies too: its clients resume on b, from positions the new
	// primary gave.
	time.Sleep(time.Second)
	t.Log("node a killed (SIGKILL)")
	a.kill()
	time.Sleep(3 * time.Second)
	stopPush()
	pwg.Wait()

	waitForLastAcks(t, clients, pushers)
	cancel()
	wg.Wait()

	checkFailover(t, "Sentinel", killed, clients, pushers, nil)

	for _, n := range nodes {
		var body []byte
		if n != a {
			resp, err := http.Get("http://" + n.apiAddr() + "/v1/stats")
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), `"cluster"`) {
				t.Errorf("node %s: no cluster in its stats: %s", n.cfg.Node, body)
			}
		}
		n.kill()
		for _, secret := range []string{s.Password, s.SentinelPassword} {
			if strings.Contains(string(body), secret) || strings.Contains(n.logs(), secret) {
				t.Errorf("node %s shows a Redis password in its stats or log", n.cfg.Node)
			}
		}
		if !strings.Contains(n.logs(), "redis is down") {
			t.Errorf("node %s logged no outage:\n%s", n.cfg.Node, n.logs())
		}
	}
}

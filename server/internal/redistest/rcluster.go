package redistest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCluster is a Redis Cluster of real redis-server processes on
// 127.0.0.1, run from the recipe's files (docs/deploy/redis/cluster:
// node1.conf to node6.conf) with only their ports, directories and
// password replaced, and created as the recipe says (redis-cli --cluster
// create ... --cluster-replicas 1 --cluster-yes): three primaries with a
// replica each.
type RedisCluster struct {
	t   testing.TB
	dir string
	// Password is every node's (requirepass, masterauth); random.
	Password string
	Nodes    []*Proc
}

// StartCluster starts the six nodes of confDir, creates the cluster and
// waits until every node sees it whole and every replica is in sync.
// Everything is killed when the test ends.
func StartCluster(t testing.TB, confDir string) *RedisCluster {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is not installed: the Redis Cluster tests need it (make deps)", bin)
		}
	}
	dir, err := os.MkdirTemp("", "redistest-cluster")
	if err != nil {
		t.Fatal(err)
	}
	c := &RedisCluster{t: t, dir: dir, Password: secret()}
	t.Cleanup(func() {
		for _, p := range c.Nodes {
			p.Kill()
			p.Client.Close()
		}
		os.RemoveAll(dir)
	})
	for i := 1; i <= 6; i++ {
		b, err := os.ReadFile(filepath.Join(confDir, "node"+strconv.Itoa(i)+".conf"))
		if err != nil {
			t.Fatal(err)
		}
		c.Nodes = append(c.Nodes, c.start("node"+strconv.Itoa(i), string(b)))
	}
	args := []string{"-a", c.Password, "--no-auth-warning", "--cluster", "create"}
	for _, p := range c.Nodes {
		args = append(args, p.Addr())
	}
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitHealthy(30 * time.Second)
	return c
}

// start runs one node from conf on a free port whose cluster bus port
// (port + 10000) is free too.
func (c *RedisCluster) start(name, conf string) *Proc {
	c.t.Helper()
	pdir := filepath.Join(c.dir, name)
	if err := os.MkdirAll(pdir, 0o700); err != nil {
		c.t.Fatal(err)
	}
	for try := 0; ; try++ {
		port := busPort(c.t)
		var lines []string
		for _, line := range strings.Split(conf, "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) == 2 && f[0] == "port":
				line = "port " + strconv.Itoa(port)
			case len(f) == 2 && f[0] == "dir":
				line = "dir " + pdir
			}
			lines = append(lines, strings.ReplaceAll(line, "change-me-redis", c.Password))
		}
		path := filepath.Join(pdir, "redis.conf")
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
			c.t.Fatal(err)
		}
		p := &Proc{Port: port, log: filepath.Join(pdir, "redis.log")}
		p.cmd = exec.Command("redis-server", path, "--logfile", p.log)
		if err := p.cmd.Start(); err != nil {
			c.t.Fatalf("redis-server: %v", err)
		}
		p.Client = redis.NewClient(&redis.Options{Addr: p.Addr(), Password: c.Password, DialTimeout: time.Second, ReadTimeout: 2 * time.Second})
		err := waitPing(p, 5*time.Second)
		if err == nil {
			return p
		}
		b, _ := os.ReadFile(p.log)
		p.Kill()
		p.Client.Close()
		if strings.Contains(string(b), "already in use") && try < 5 {
			continue
		}
		c.t.Fatalf("%s does not answer on %s: %v\n%s", name, p.Addr(), err, b)
	}
}

// busPort picks a port below 55536 that is free, with port + 10000 free
// too (Redis Cluster's bus).
func busPort(t testing.TB) int {
	for range 100 {
		port := 20000 + rand.IntN(30000)
		a, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		b, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return port
	}
	t.Fatal("no free pair of ports for a Redis Cluster node")
	return 0
}

// URL is the redis+cluster:// URL of the first three nodes, without the
// password: the nodes get it apart (--redis-password).
func (c *RedisCluster) URL() string {
	var addrs []string
	for _, p := range c.Nodes[:3] {
		addrs = append(addrs, p.Addr())
	}
	return "redis+cluster://" + strings.Join(addrs, ",")
}

// alive are the nodes whose process runs.
func (c *RedisCluster) alive() []*Proc {
	var out []*Proc
	for _, p := range c.Nodes {
		if p.cmd != nil {
			out = append(out, p)
		}
	}
	return out
}

// Primaries are the nodes alive that say they are primaries and own slots.
func (c *RedisCluster) Primaries() []*Proc {
	var out []*Proc
	for _, p := range c.alive() {
		info, err := p.Client.Info(context.Background(), "replication").Result()
		if err == nil && strings.Contains(info, "role:master") && c.ownsSlots(p) {
			out = append(out, p)
		}
	}
	return out
}

func (c *RedisCluster) ownsSlots(p *Proc) bool {
	nodes, err := p.Client.ClusterNodes(context.Background()).Result()
	if err != nil {
		return false
	}
	for _, line := range strings.Split(nodes, "\n") {
		f := strings.Fields(line)
		if len(f) > 8 && strings.Contains(f[2], "myself") {
			return true
		}
	}
	return false
}

// Owner is the node alive that serves key's slot now, as it says itself.
func (c *RedisCluster) Owner(key string) *Proc {
	slot, err := c.alive()[0].Client.ClusterKeySlot(context.Background(), key).Result()
	if err != nil {
		c.t.Fatal(err)
	}
	for _, p := range c.Primaries() {
		nodes, err := p.Client.ClusterNodes(context.Background()).Result()
		if err != nil {
			continue
		}
		for _, line := range strings.Split(nodes, "\n") {
			f := strings.Fields(line)
			if len(f) < 9 || !strings.Contains(f[2], "myself") {
				continue
			}
			for _, r := range f[8:] {
				lo, hi, _ := strings.Cut(r, "-")
				if hi == "" {
					hi = lo
				}
				a, err1 := strconv.Atoi(lo)
				b, err2 := strconv.Atoi(hi)
				if err1 == nil && err2 == nil && int64(a) <= slot && slot <= int64(b) {
					return p
				}
			}
		}
	}
	return nil
}

// WaitHealthy waits, up to d, until every node alive says the cluster is
// ok, three primaries own all slots and every replica alive is in sync.
func (c *RedisCluster) WaitHealthy(d time.Duration) {
	c.t.Helper()
	ctx := context.Background()
	c.wait(d, func() error {
		for _, p := range c.alive() {
			info, err := p.Client.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
				return fmt.Errorf("%s: cluster not ok", p.Addr())
			}
			rep, err := p.Client.Info(ctx, "replication").Result()
			if err != nil {
				return err
			}
			if strings.Contains(rep, "role:slave") && !strings.Contains(rep, "master_link_status:up") {
				return fmt.Errorf("replica %s not in sync", p.Addr())
			}
		}
		if n := len(c.Primaries()); n != 3 {
			return fmt.Errorf("%d primaries own slots", n)
		}
		return nil
	})
}

// WaitFailover waits, up to d, until old's slots are served by another
// node that every node alive knows as their owner, and returns it.
func (c *RedisCluster) WaitFailover(old *Proc, slotKey string, d time.Duration) *Proc {
	c.t.Helper()
	var now *Proc
	c.wait(d, func() error {
		now = c.Owner(slotKey)
		if now == nil || now == old {
			return fmt.Errorf("no new owner of %q yet", slotKey)
		}
		for _, p := range c.alive() {
			info, err := p.Client.ClusterInfo(context.Background()).Result()
			if err != nil || !strings.Contains(info, "cluster_slots_ok:16384") {
				return fmt.Errorf("%s does not see all slots served yet", p.Addr())
			}
		}
		return nil
	})
	return now
}

func (c *RedisCluster) wait(d time.Duration, ok func() error) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := ok()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("after %v: %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// MoveSlot moves the slot of key, and its keys, from the primary that owns
// it to the primary to, as redis-cli --cluster reshard does for each slot
// (CLUSTER SETSLOT IMPORTING and MIGRATING, MIGRATE, SETSLOT NODE on every
// primary).
func (c *RedisCluster) MoveSlot(key string, to *Proc) {
	c.t.Helper()
	ctx := context.Background()
	from := c.Owner(key)
	if from == nil || from == to {
		c.t.Fatalf("slot of %q: owner %v, want another than %s", key, from, to.Addr())
	}
	slot, err := from.Client.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		c.t.Fatal(err)
	}
	id := func(p *Proc) string {
		s, err := p.Client.Do(ctx, "CLUSTER", "MYID").Text()
		if err != nil {
			c.t.Fatal(err)
		}
		return s
	}
	fromID, toID := id(from), id(to)
	must := func(err error) {
		if err != nil {
			c.t.Helper()
			c.t.Fatal(err)
		}
	}
	must(to.Client.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", fromID).Err())
	must(from.Client.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", toID).Err())
	for {
		keys, err := from.Client.ClusterGetKeysInSlot(ctx, int(slot), 100).Result()
		must(err)
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", "127.0.0.1", to.Port, "", 0, 5000, "AUTH", c.Password, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		must(from.Client.Do(ctx, args...).Err())
	}
	for _, p := range c.Primaries() {
		must(p.Client.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", toID).Err())
	}
}

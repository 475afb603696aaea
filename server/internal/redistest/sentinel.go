package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Replicated is a Redis primary with replicas and, optionally, the
// Sentinels that watch it, all real redis-server processes on 127.0.0.1,
// run from the recipe's configuration files (docs/deploy/redis/sentinel:
// primary.conf, replica.conf, sentinelN.conf) with only their ports,
// directories and passwords replaced. Sentinel needs TCP: it announces and
// monitors host:port addresses, never unix sockets. Ports are taken free
// from the kernel and handed to redis-server, which may lose one to
// another process in between: the harness then tries another.
type Replicated struct {
	t   testing.TB
	dir string
	// Password is the primary's and the replicas' (requirepass);
	// SentinelPassword the Sentinels'. Both are random: a test can look
	// for them where they must not be.
	Password, SentinelPassword string
	// Master is the name the Sentinels know the primary by.
	Master    string
	Primary   *Proc
	Replicas  []*Proc
	Sentinels []*Proc
}

// Proc is one redis-server process of a Replicated.
type Proc struct {
	Port int
	cmd  *exec.Cmd
	log  string
	// Client talks to it (with the password it needs).
	Client *redis.Client
}

// Addr is 127.0.0.1:Port.
func (p *Proc) Addr() string { return "127.0.0.1:" + strconv.Itoa(p.Port) }

// Kill kills the process with SIGKILL.
func (p *Proc) Kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		p.cmd = nil
	}
}

// Stop freezes the process (SIGSTOP); Cont lets it go on.
func (p *Proc) Stop() { p.signal(syscall.SIGSTOP) }

// Cont lets a stopped process go on (SIGCONT).
func (p *Proc) Cont() { p.signal(syscall.SIGCONT) }

func (p *Proc) signal(sig syscall.Signal) {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}

// StartReplicated starts a primary, replicas replicas of it and
// sentinels Sentinels (0, or 3 for a quorum of 2), from the files in
// confDir, and waits until every replica is in sync and every Sentinel
// knows the replicas and the other Sentinels: a failover can happen.
// Everything is killed when the test ends.
func StartReplicated(t testing.TB, confDir string, replicas, sentinels int) *Replicated {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is not installed: the cluster tests need it (make deps, or apt-get install redis-server)")
	}
	dir, err := os.MkdirTemp("", "redistest-sentinel")
	if err != nil {
		t.Fatal(err)
	}
	s := &Replicated{t: t, dir: dir, Master: "wspush", Password: secret(), SentinelPassword: secret()}
	t.Cleanup(func() {
		for _, p := range s.all() {
			p.Kill()
			if p.Client != nil {
				p.Client.Close()
			}
		}
		os.RemoveAll(dir)
	})
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(confDir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	s.Primary = s.start("primary", read("primary.conf"), false, 0)
	for i := range replicas {
		s.Replicas = append(s.Replicas, s.start("replica"+strconv.Itoa(i+1), read("replica.conf"), false, s.Primary.Port))
	}
	for i := range sentinels {
		name := "sentinel" + strconv.Itoa(i%3+1)
		s.Sentinels = append(s.Sentinels, s.start(name+"-"+strconv.Itoa(i), read(name+".conf"), true, s.Primary.Port))
	}
	ctx := context.Background()
	s.wait(20*time.Second, func() error {
		for _, r := range s.Replicas {
			info, err := r.Client.Info(ctx, "replication").Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "master_link_status:up") {
				return fmt.Errorf("replica %s not in sync", r.Addr())
			}
		}
		for _, sn := range s.Sentinels {
			c := redis.NewSentinelClient(sentinelOptions(sn, s.SentinelPassword))
			reps, err1 := c.Replicas(ctx, s.Master).Result()
			others, err2 := c.Sentinels(ctx, s.Master).Result()
			c.Close()
			if err1 != nil || err2 != nil {
				return fmt.Errorf("sentinel %s: %v %v", sn.Addr(), err1, err2)
			}
			if len(reps) < len(s.Replicas) || len(others) < len(s.Sentinels)-1 {
				return fmt.Errorf("sentinel %s knows %d replicas and %d other sentinels", sn.Addr(), len(reps), len(others))
			}
		}
		return nil
	})
	return s
}

func secret() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "pw" + hex.EncodeToString(b)
}

func sentinelOptions(p *Proc, password string) *redis.Options {
	return &redis.Options{Addr: p.Addr(), Password: password, DialTimeout: time.Second, ReadTimeout: time.Second}
}

func (s *Replicated) all() []*Proc {
	ps := []*Proc{s.Primary}
	ps = append(ps, s.Replicas...)
	ps = append(ps, s.Sentinels...)
	var out []*Proc
	for _, p := range ps {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// URL is the redis+sentinel:// URL of the Sentinels, without passwords:
// the nodes get those apart (--redis-password, --redis-sentinel-password).
func (s *Replicated) URL() string {
	var addrs []string
	for _, p := range s.Sentinels {
		addrs = append(addrs, p.Addr())
	}
	return "redis+sentinel://" + strings.Join(addrs, ",") + "/" + s.Master
}

// PrimaryURL is the redis:// URL of the first primary, password included.
func (s *Replicated) PrimaryURL() string {
	return "redis://:" + s.Password + "@" + s.Primary.Addr() + "/0"
}

// PrimaryAddr is where a majority of the Sentinels say the primary is
// now; "" when they do not agree.
func (s *Replicated) PrimaryAddr() string {
	votes := map[string]int{}
	for _, sn := range s.Sentinels {
		if sn.cmd == nil {
			continue
		}
		c := redis.NewSentinelClient(sentinelOptions(sn, s.SentinelPassword))
		a, err := c.GetMasterAddrByName(context.Background(), s.Master).Result()
		c.Close()
		if err == nil && len(a) == 2 {
			votes[net.JoinHostPort(a[0], a[1])]++
		}
	}
	for a, n := range votes {
		if n > len(s.Sentinels)/2 {
			return a
		}
	}
	return ""
}

// start runs one redis-server from conf, on a free port.
func (s *Replicated) start(name, conf string, sentinel bool, primary int) *Proc {
	s.t.Helper()
	pdir := filepath.Join(s.dir, name)
	if err := os.MkdirAll(pdir, 0o700); err != nil {
		s.t.Fatal(err)
	}
	for try := 0; ; try++ {
		port := freePort(s.t)
		path := filepath.Join(pdir, "redis.conf")
		if err := os.WriteFile(path, []byte(s.rewrite(conf, port, pdir, primary)), 0o600); err != nil {
			s.t.Fatal(err)
		}
		p := &Proc{Port: port, log: filepath.Join(pdir, "redis.log")}
		args := []string{path, "--logfile", p.log}
		if sentinel {
			args = append(args, "--sentinel")
		}
		p.cmd = exec.Command("redis-server", args...)
		if err := p.cmd.Start(); err != nil {
			s.t.Fatalf("redis-server: %v", err)
		}
		pw := s.Password
		if sentinel {
			pw = s.SentinelPassword
		}
		p.Client = redis.NewClient(&redis.Options{Addr: p.Addr(), Password: pw, DialTimeout: time.Second, ReadTimeout: 2 * time.Second})
		err := waitPing(p, 5*time.Second)
		if err == nil {
			return p
		}
		b, _ := os.ReadFile(p.log)
		p.Kill()
		p.Client.Close()
		if strings.Contains(string(b), "already in use") && try < 5 {
			continue // another process took the port: another one
		}
		s.t.Fatalf("%s does not answer on %s: %v\n%s", name, p.Addr(), err, b)
	}
}

// rewrite gives the recipe's file this process's port, directory,
// primary's port and passwords.
func (s *Replicated) rewrite(conf string, port int, dir string, primary int) string {
	var out []string
	for _, line := range strings.Split(conf, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "port":
			line = "port " + strconv.Itoa(port)
		case len(f) == 2 && f[0] == "dir":
			line = "dir " + dir
		case len(f) == 3 && f[0] == "replicaof":
			line = "replicaof 127.0.0.1 " + strconv.Itoa(primary)
		case len(f) == 6 && f[0] == "sentinel" && f[1] == "monitor":
			line = strings.Join([]string{"sentinel", "monitor", s.Master, "127.0.0.1", strconv.Itoa(primary), f[5]}, " ")
		}
		line = strings.ReplaceAll(line, "change-me-redis", s.Password)
		line = strings.ReplaceAll(line, "change-me-sentinel", s.SentinelPassword)
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitPing(p *Proc, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		err := p.Client.Ping(context.Background()).Err()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || p.cmd.ProcessState != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wait polls ok until it returns nil, or fails the test after d.
func (s *Replicated) wait(d time.Duration, ok func() error) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := ok()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("after %v: %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitFailover waits, up to d, until a majority of the Sentinels name a
// primary other than old, and returns it.
func (s *Replicated) WaitFailover(old string, d time.Duration) string {
	s.t.Helper()
	var now string
	s.wait(d, func() error {
		now = s.PrimaryAddr()
		if now == "" || now == old {
			return fmt.Errorf("the Sentinels still name %q", now)
		}
		return nil
	})
	return now
}

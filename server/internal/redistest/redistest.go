// Package redistest runs a real redis-server for tests: on a unix socket
// of its own, without persistence, for the length of a test, with the
// faults the cluster must survive (Stop and Cont for a Redis that hangs,
// Kill and Restart for one that dies). Only tests import it.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server process.
//
// It listens on a unix socket in a directory of its own, not on a TCP
// port: redis-server cannot be told port 0 and say which port it got, so
// a TCP port would have to be picked free and then bound, racing every
// other process on the machine, and again at each Restart, which must
// come back on the same address since the nodes hold its URL. The
// socket's path is the test's alone. The nodes reach it through go-redis's
// unix:// URLs; Proxy gives a node a TCP hop in front of it.
type Server struct {
	t   testing.TB
	dir string
	cmd *exec.Cmd
	// Client talks to it, for the test's own checks.
	Client *redis.Client
}

// Start starts redis-server (Debian's redis-server package; make deps
// installs it) and kills it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is not installed: the cluster tests need it (make deps, or apt-get install redis-server)")
	}
	// Not t.TempDir: a socket's path must fit in 108 bytes, and a long
	// test name would make it longer.
	dir, err := os.MkdirTemp("", "redistest")
	if err != nil {
		t.Fatal(err)
	}
	r := &Server{t: t, dir: dir}
	if n := len(r.Socket()); n >= 108 {
		os.RemoveAll(dir)
		t.Fatalf("redis socket path %s is %d bytes, over the 107 a unix socket allows: set a shorter TMPDIR", r.Socket(), n)
	}
	t.Cleanup(func() {
		if r.Client != nil {
			r.Client.Close()
		}
		r.Kill()
		os.RemoveAll(dir)
	})
	r.Restart()
	r.Client = redis.NewClient(&redis.Options{Network: "unix", Addr: r.Socket()})
	return r
}

// Socket is the path of the unix socket Redis listens on.
func (r *Server) Socket() string { return filepath.Join(r.dir, "redis.sock") }

// URL is the unix:// URL of database 0.
func (r *Server) URL() string { return "unix://" + r.Socket() + "?db=0" }

// Restart starts the process (again, after Kill: empty, or with what the
// last SAVE wrote, as a Redis that comes back with older data than it had)
// on the same socket and waits until it accepts connections.
func (r *Server) Restart() {
	r.t.Helper()
	log := filepath.Join(r.dir, "redis.log")
	r.cmd = exec.Command("redis-server", "--port", "0", "--unixsocket", r.Socket(), "--unixsocketperm", "700",
		"--dir", r.dir, "--logfile", log, "--save", "", "--appendonly", "no")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("redis-server: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("unix", r.Socket())
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log)
			r.t.Fatalf("redis-server does not accept connections on %s: %v\n%s", r.Socket(), err, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Kill kills the process with SIGKILL: everything it held is gone.
func (r *Server) Kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// Stop freezes the process with SIGSTOP: connections stay open and
// nothing answers, as a Redis that hangs.
func (r *Server) Stop() { r.signal(syscall.SIGSTOP) }

// Cont lets a stopped process go on (SIGCONT).
func (r *Server) Cont() { r.signal(syscall.SIGCONT) }

func (r *Server) signal(sig syscall.Signal) {
	r.t.Helper()
	if r.cmd == nil || r.cmd.Process == nil {
		r.t.Fatalf("redis-server is not running")
	}
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatalf("signal %v: %v", sig, err)
	}
}

// NumSub is how many connections subscribe to channel, or -1.
func (r *Server) NumSub(channel string) int64 {
	m, err := r.Client.PubSubNumSub(context.Background(), channel).Result()
	if err != nil {
		return -1
	}
	return m[channel]
}

// WaitSubs waits until n connections subscribe to channel.
func (r *Server) WaitSubs(channel string, n int64) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := r.NumSub(channel)
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s has %d subscribers, want %d", channel, got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Errorf is fmt.Errorf, for polling helpers.
var Errorf = fmt.Errorf

// Package redistest runs a real redis-server for tests: on a free loopback
// port, without persistence, for the length of a test, with the faults
// the cluster must survive (Stop and Cont for a Redis that hangs, Kill
// and Start for one that dies). Only tests import it.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server process.
type Server struct {
	t    testing.TB
	port int
	cmd  *exec.Cmd
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &Server{t: t, port: port}
	r.Restart()
	r.Client = redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() {
		r.Client.Close()
		r.Kill()
	})
	return r
}

// Addr is host:port.
func (r *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// URL is the redis:// URL of database 0.
func (r *Server) URL() string { return "redis://" + r.Addr() + "/0" }

// Restart starts the process (again, after Kill: empty) and waits until
// it accepts connections.
func (r *Server) Restart() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("redis-server: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", r.Addr())
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server does not accept connections: %v", err)
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

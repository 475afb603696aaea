package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wspush/wspush/server/internal/wstest"
)

// startListener serves a handler that answers 200 (and reads the body of
// a POST) through the API's Server with cfg.
func startListener(t *testing.T, cfg ServerConfig) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(ln, cfg)
	done := make(chan error, 1)
	go func() {
		done <- s.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.Copy(io.Discard, r.Body); err != nil {
				return
			}
			w.WriteHeader(http.StatusOK)
		}))
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, ln.Addr().String()
}

// rawConn is a raw connection to the API.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *rawConn) write(s string) error {
	_, err := c.nc.Write([]byte(s))
	return err
}

// get sends GET path on a keep-alive connection and returns the status.
func (c *rawConn) get(path string) int {
	c.t.Helper()
	if err := c.write("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		c.t.Fatal(err)
	}
	return c.status()
}

// status reads one response and returns its status.
func (c *rawConn) status() int {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	rsp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatalf("reading a response: %v", err)
	}
	_, _ = io.Copy(io.Discard, rsp.Body)
	rsp.Body.Close()
	return rsp.StatusCode
}

// closed reports whether the server has closed c, waiting up to d.
func (c *rawConn) closed(d time.Duration) bool {
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	for {
		_, err := c.br.ReadByte()
		if err == nil {
			continue
		}
		var ne net.Error
		return !(errors.As(err, &ne) && ne.Timeout())
	}
}

// waitIdle waits until the cap counts n idle connections.
func waitIdle(t *testing.T, s *Server, n int) {
	t.Helper()
	wstest.WaitFor(t, 5*time.Second, func() error {
		s.conns.mu.Lock()
		defer s.conns.mu.Unlock()
		idle := 0
		for _, c := range s.conns.open {
			if c.idle {
				idle++
			}
		}
		if idle != n {
			return fmt.Errorf("%d idle API connections, want %d", idle, n)
		}
		return nil
	})
}

func TestConnectionCapClosesIdleThenRefuses(t *testing.T) {
	s, addr := startListener(t, ServerConfig{MaxConns: 3})
	var idle []*rawConn
	for i := range 3 {
		c := dial(t, addr)
		if st := c.get("/healthz"); st != 200 {
			t.Fatalf("healthz %d", st)
		}
		idle = append(idle, c)
		// net/http marks a connection idle just after it writes the
		// answer, which the client may read first: wait, so that the
		// first connection is the oldest idle one.
		waitIdle(t, s, i+1)
	}
	// At the cap, a new connection takes the place of the oldest idle one.
	fourth := dial(t, addr)
	if st := fourth.get("/healthz"); st != 200 {
		t.Fatalf("a fourth connection: %d", st)
	}
	if !idle[0].closed(5 * time.Second) {
		t.Fatal("the oldest idle connection is still open")
	}
	waitIdle(t, s, 3)
	// Connections busy sending a request are never closed for another:
	// with the cap full of them, the next one is answered 503.
	var busy []*rawConn
	for range 3 {
		c := dial(t, addr)
		if err := c.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"); err != nil {
			t.Fatal(err)
		}
		busy = append(busy, c)
	}
	wstest.WaitFor(t, 5*time.Second, func() error {
		if n := s.Conns(); n != 3 {
			return errors.New("not yet 3 busy connections")
		}
		if !fourth.closed(10 * time.Millisecond) {
			return errors.New("the idle connections are still open")
		}
		return nil
	})
	over := dial(t, addr)
	if st := over.get("/healthz"); st != http.StatusServiceUnavailable {
		t.Fatalf("over the cap: %d, want 503", st)
	}
	if s.Refused() != 1 || s.Conns() != 3 {
		t.Fatalf("%d refused, %d open", s.Refused(), s.Conns())
	}
	busy[0].nc.Close()
	wstest.WaitFor(t, 5*time.Second, func() error {
		if n := s.Conns(); n != 2 {
			return fmt.Errorf("%d open", n)
		}
		return nil
	})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.Collector())
	want := `
# HELP wspush_api_connections_refused_total HTTP API connections answered 503 at --api-max-conns, or closed while idle to make room, by action.
# TYPE wspush_api_connections_refused_total counter
wspush_api_connections_refused_total{action="idle_closed"} 4
wspush_api_connections_refused_total{action="refused"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "wspush_api_connections_refused_total"); err != nil {
		t.Fatal(err)
	}
}

func TestBodyNeverSentOrTrickledIsCutOff(t *testing.T) {
	_, addr := startListener(t, ServerConfig{MaxConns: 16, ReadTimeout: 300 * time.Millisecond})

	// A body announced and never sent: net/http waits for it until the
	// read timeout, then closes the connection.
	promised := dial(t, addr)
	if err := promised.write("POST /v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 200000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if !promised.closed(5 * time.Second) {
		t.Fatal("a connection whose body never came is still open")
	}

	// A body trickled a byte at a time.
	trickle := dial(t, addr)
	if err := trickle.write("POST /v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	cut := false
	for i := 0; i < 100 && !cut; i++ {
		if err := trickle.write("{"); err != nil {
			cut = true
			break
		}
		cut = trickle.closed(50 * time.Millisecond)
	}
	if !cut {
		t.Fatal("a body trickled for 5s is still being read")
	}
	// The API still answers.
	if st := dial(t, addr).get("/healthz"); st != 200 {
		t.Fatalf("healthz %d", st)
	}
}

func TestNilServerHasNoConnections(t *testing.T) {
	var s *Server
	if s.Conns() != 0 || s.Refused() != 0 {
		t.Fatal("a nil server counts connections")
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.Collector())
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 0 {
		t.Fatalf("a nil server exports %d metrics (%v)", n, err)
	}
}

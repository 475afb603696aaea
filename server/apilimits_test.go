package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawAPIConn is a raw connection to a test server's API.
type rawAPIConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialAPI(t *testing.T, s *Server) *rawAPIConn {
	t.Helper()
	nc, err := net.Dial("tcp", s.APIAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawAPIConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *rawAPIConn) write(s string) error {
	_, err := c.nc.Write([]byte(s))
	return err
}

// get sends GET path on a keep-alive connection and returns the status.
func (c *rawAPIConn) get(path string) int {
	c.t.Helper()
	if err := c.write("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		c.t.Fatal(err)
	}
	return c.status()
}

// status reads one response and returns its status.
func (c *rawAPIConn) status() int {
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
func (c *rawAPIConn) closed(d time.Duration) bool {
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

func TestAPIConnectionCapClosesIdleThenRefuses(t *testing.T) {
	s := startServer(t, Config{APIAddr: "127.0.0.1:0", APIMaxConns: 3})
	var idle []*rawAPIConn
	for range 3 {
		c := dialAPI(t, s)
		if st := c.get("/healthz"); st != 200 {
			t.Fatalf("healthz %d", st)
		}
		idle = append(idle, c)
	}
	// net/http marks a connection idle just after it writes the answer.
	waitIdle(t, s, 3)
	// At the cap, a new connection takes the place of the oldest idle one.
	fourth := dialAPI(t, s)
	if st := fourth.get("/healthz"); st != 200 {
		t.Fatalf("a fourth connection: %d", st)
	}
	if !idle[0].closed(5 * time.Second) {
		t.Fatal("the oldest idle connection is still open")
	}
	waitIdle(t, s, 3)
	// Connections busy sending a request are never closed for another:
	// with the cap full of them, the next one is answered 503.
	var busy []*rawAPIConn
	for range 3 {
		c := dialAPI(t, s)
		if err := c.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"); err != nil {
			t.Fatal(err)
		}
		busy = append(busy, c)
	}
	waitFor(t, 5*time.Second, func() error {
		if n := s.apiConns.count(); n != 3 {
			return errors.New("not yet 3 busy connections")
		}
		if !fourth.closed(10 * time.Millisecond) {
			return errors.New("the idle connections are still open")
		}
		return nil
	})
	over := dialAPI(t, s)
	if st := over.get("/healthz"); st != http.StatusServiceUnavailable {
		t.Fatalf("over the cap: %d, want 503", st)
	}
	if st := s.Stats(); st.APIConnsRefused != 1 || st.APIConns != 3 {
		t.Fatalf("stats: %d refused, %d open", st.APIConnsRefused, st.APIConns)
	}
	// /metrics says the same; a keep-alive client would wait for a slot,
	// so this one reads through a fresh connection after one busy closes.
	busy[0].nc.Close()
	waitFor(t, 5*time.Second, func() error {
		if n := s.apiConns.count(); n != 2 {
			return fmt.Errorf("%d open", n)
		}
		return nil
	})
	_, _, metrics := newAPIClient(t, s, "").call("GET", "/metrics", "")
	for _, want := range []string{`wspush_api_connections_refused_total{action="refused"} 1`,
		`wspush_api_connections_refused_total{action="idle_closed"} 4`, "wspush_development_mode 1", `wspush_fd_budget{share="api"} 3`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestAPIBodyNeverSentOrTrickledIsCutOff(t *testing.T) {
	s := startServer(t, Config{APIAddr: "127.0.0.1:0", APIKey: testAPIKey, APIReadTimeout: 300 * time.Millisecond})

	// No key, a body announced and never sent: 401, then net/http waits
	// for the body to reuse the connection, until the read timeout.
	promised := dialAPI(t, s)
	if err := promised.write("POST /v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 200000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if st := promised.status(); st != http.StatusUnauthorized {
		t.Fatalf("status %d", st)
	}
	if !promised.closed(5 * time.Second) {
		t.Fatal("a connection whose body never came is still open")
	}

	// With the key, a body trickled a byte at a time.
	trickle := dialAPI(t, s)
	if err := trickle.write("POST /v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + testAPIKey +
		"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"); err != nil {
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
	if st := dialAPI(t, s).get("/healthz"); st != 200 {
		t.Fatalf("healthz %d", st)
	}
}

func TestFdBudgetKeepsTheAPIOutOfTheWebSocketShare(t *testing.T) {
	c := Config{APIAddr: "127.0.0.1:0", Loops: 2}
	b := c.budget(256)
	if b.api != 16 || b.ws <= 16 || b.fixed+b.api+1+b.burst+b.ws != 256 {
		t.Fatalf("budget of 256: %+v", b)
	}
	b = c.budget(1 << 20)
	if b.api != 1024 || b.burst > somaxconn() {
		t.Fatalf("budget of 1M: %+v", b)
	}
	if err := (Config{APIAddr: "127.0.0.1:0", APIMaxConns: 100000}).Validate(); err == nil || !strings.Contains(err.Error(), "open-files limit") {
		t.Fatalf("an API cap above the limit: %v", err)
	}
}

// waitIdle waits until the API's cap counts n idle connections.
func waitIdle(t *testing.T, s *Server, n int) {
	t.Helper()
	waitFor(t, 5*time.Second, func() error {
		s.apiConns.mu.Lock()
		defer s.apiConns.mu.Unlock()
		idle := 0
		for _, c := range s.apiConns.open {
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

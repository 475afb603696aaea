package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/wspush/wspush/server/internal/wire"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"go.uber.org/goleak"

	"github.com/wspush/wspush/frame"
)

// startServer runs a server on a free loopback port for the length of the
// test, and checks on cleanup that it stopped and left no goroutine behind.
func startServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	// Cleanups run last first: the leak check after startPlain's shutdown.
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	return startPlain(t, cfg)
}

// startPlain starts a server on a free loopback port for the length of the
// test and checks on cleanup that it stopped; it leaves the check for
// leaked goroutines to its caller (startServer, or the cluster tests'
// startRedis, which outlives several servers).
func startPlain(t testing.TB, cfg Config) *Server {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	s := New(cfg)
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	})
	return s
}

// waitFor polls f until it returns nil or d passes.
func waitFor(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// upgradeRequest is a valid opening handshake for path.
func upgradeRequest(path string) string {
	return "GET " + path + " HTTP/1.1\r\n" +
		"Host: 127.0.0.1\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n"
}

// client is a test peer on a raw TCP connection: it writes exactly the
// bytes a test gives it and reads frames back with a deadline.
type client struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func dial(t testing.TB, s *Server) *client {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// dialWS dials and completes the upgrade on /ws.
func dialWS(t testing.TB, s *Server) *client {
	t.Helper()
	c := dial(t, s)
	c.write([]byte(upgradeRequest("/ws")))
	c.expectStatus(http.StatusSwitchingProtocols)
	return c
}

func (c *client) write(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// expectStatus reads an HTTP response head and checks its status. It
// returns the head and, for error answers, the body.
func (c *client) expectStatus(status int) (head, body string) {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	var h strings.Builder
	_ = resp.Header.Write(&h)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
	}
	if resp.StatusCode != status {
		c.t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	return h.String(), body
}

// maskedFrame is the wire form of a client frame.
func maskedFrame(op ws.OpCode, fin bool, p []byte) []byte {
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b := frame.AppendHeader(nil, ws.Header{Fin: fin, OpCode: op, Masked: true, Mask: mask, Length: int64(len(p))})
	n := len(b)
	b = append(b, p...)
	ws.Cipher(b[n:], mask, 0)
	return b
}

func (c *client) send(op ws.OpCode, p []byte) { c.write(maskedFrame(op, true, p)) }

// read reads one server frame.
func (c *client) read() (ws.Header, []byte) {
	c.t.Helper()
	h, p, err := c.tryRead(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read frame: %v", err)
	}
	return h, p
}

func (c *client) tryRead(d time.Duration) (ws.Header, []byte, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	h, err := ws.ReadHeader(c.br)
	if err != nil {
		return h, nil, err
	}
	if h.Masked {
		return h, nil, errors.New("server frame is masked")
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return h, nil, err
	}
	return h, p, nil
}

// expect reads one frame and checks its opcode and payload.
func (c *client) expect(op ws.OpCode, p []byte) {
	c.t.Helper()
	h, got := c.read()
	if h.OpCode != op || !h.Fin || !bytes.Equal(got, p) {
		c.t.Fatalf("got %v fin=%v %d bytes %q, want %v %d bytes %.40q", h.OpCode, h.Fin, len(got), trunc(got), op, len(p), p)
	}
}

// expectClose reads frames until a close frame and checks its code.
func (c *client) expectClose(code ws.StatusCode) string {
	c.t.Helper()
	for {
		h, p := c.read()
		if h.OpCode != ws.OpClose {
			continue
		}
		if code == 0 {
			if len(p) != 0 {
				c.t.Fatalf("close body %q, want none", p)
			}
			return ""
		}
		if len(p) < 2 {
			c.t.Fatalf("close body %q, want code %d", p, code)
		}
		if got := ws.StatusCode(binary.BigEndian.Uint16(p)); got != code {
			c.t.Fatalf("close code %d (%q), want %d", got, p[2:], code)
		}
		return string(p[2:])
	}
}

// expectEOF checks that the server ends the TCP connection.
func (c *client) expectEOF() {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, err := c.br.ReadByte()
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("connection still open")
		}
		return // EOF or reset
	}
}

func trunc(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

func closeCount(s *Server, r wire.CloseReason) func() error {
	return func() error {
		if n := s.eng.Counters().Closes[r]; n == 0 {
			return fmt.Errorf("no close with reason %s yet", r)
		}
		return nil
	}
}

package engine

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/server/internal/wire"
)

func TestUpgradeByteByByte(t *testing.T) {
	s := startEngine(t, Config{Echo: true}, nil)
	c := dial(t, s)
	req := upgradeRequest("/ws")
	for i := range len(req) {
		c.Write([]byte{req[i]})
		time.Sleep(time.Millisecond)
	}
	head, _ := c.ExpectStatus(http.StatusSwitchingProtocols)
	if !strings.Contains(head, "Sec-Websocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") {
		t.Fatalf("accept key missing in %q", head)
	}
	f := maskedFrame(ws.OpText, true, []byte("hello"))
	for i := range f {
		c.Write(f[i : i+1])
	}
	c.Expect(ws.OpText, []byte("hello"))
}

func TestUpgradeKeepsFramesSentWithTheHead(t *testing.T) {
	s := startEngine(t, Config{Echo: true}, nil)
	c := dial(t, s)
	b := []byte(upgradeRequest("/ws"))
	b = append(b, maskedFrame(ws.OpText, true, []byte("early"))...)
	b = append(b, maskedFrame(ws.OpBinary, true, []byte{1, 2, 3})...)
	c.Write(b)
	c.ExpectStatus(http.StatusSwitchingProtocols)
	c.Expect(ws.OpText, []byte("early"))
	c.Expect(ws.OpBinary, []byte{1, 2, 3})
}

func TestUpgradeErrors(t *testing.T) {
	s := startEngine(t, Config{Echo: true}, nil)
	valid := upgradeRequest("/ws")
	for _, tc := range []struct {
		name   string
		req    string
		status int
		code   string
		header string
	}{
		{"HeadOver8KiB", "GET /ws HTTP/1.1\r\nX-Pad: " + strings.Repeat("a", 9000), 431, "header_too_large", ""},
		{"WrongPath", upgradeRequest("/chat"), 404, "not_found", ""},
		{"PlainHTTP", "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request", ""},
		{"NoConnectionUpgrade", strings.Replace(valid, "Connection: Upgrade\r\n", "", 1), 400, "bad_request", ""},
		{"NoKey", strings.Replace(valid, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "", 1), 400, "bad_request", ""},
		{"Version8", strings.Replace(valid, "Version: 13", "Version: 8", 1), 426, "upgrade_required", "Sec-Websocket-Version: 13"},
		{"Post", strings.Replace(valid, "GET", "POST", 1), 405, "method_not_allowed", ""},
		{"HTTP10", strings.Replace(valid, "HTTP/1.1", "HTTP/1.0", 1), 505, "http_version_not_supported", ""},
		{"GarbageHeaderLine", strings.Replace(valid, "Host: 127.0.0.1", "no colon here", 1), 400, "bad_request", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, s)
			c.Write([]byte(tc.req))
			head, body := c.ExpectStatus(tc.status)
			if !strings.Contains(body, `"error":"`+tc.code+`"`) || !strings.Contains(body, `"message":`) {
				t.Errorf("body %s, want a JSON error %q", body, tc.code)
			}
			if !strings.Contains(head, "Content-Type: application/json") {
				t.Errorf("head %q, want a JSON content type", head)
			}
			if tc.header != "" && !strings.Contains(head, tc.header) {
				t.Errorf("head %q, want %q", head, tc.header)
			}
			c.ExpectEOF()
		})
	}
	// The refused clients cost the others nothing.
	c := dialWS(t, s)
	c.Send(ws.OpText, []byte("still here"))
	c.Expect(ws.OpText, []byte("still here"))
}

func TestHandshakeTimeoutWithHundredsOfHalfSentRequests(t *testing.T) {
	s := startEngine(t, Config{Echo: true, HandshakeTimeout: 500 * time.Millisecond}, nil)
	const slow = 300
	half := upgradeRequest("/ws")[:40]
	stalled := make([]*client, slow)
	for i := range stalled {
		stalled[i] = dial(t, s)
		stalled[i].Write([]byte(half))
	}
	// Meanwhile other clients connect and echo.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			c := dialWS(t, s)
			msg := []byte(strings.Repeat("x", i))
			c.Send(ws.OpText, msg)
			c.Expect(ws.OpText, msg)
		})
	}
	wg.Wait()
	for _, c := range stalled {
		c.ExpectEOF()
	}
	waitFor(t, time.Second, func() error { return closeCount(s, wire.ReasonHandshakeTimeout)() })
	if n := s.Counters().Closes[wire.ReasonHandshakeTimeout]; n != slow {
		t.Errorf("%d handshake timeouts, want %d", n, slow)
	}
}

func TestSlowlorisDoesNotExtendTheHandshakeDeadline(t *testing.T) {
	s := startEngine(t, Config{Echo: true, HandshakeTimeout: 300 * time.Millisecond}, nil)
	c := dial(t, s)
	req := upgradeRequest("/ws")
	start := time.Now()
	for i := 0; i < len(req)-1; i++ {
		if _, err := c.NC.Write([]byte{req[i]}); err != nil {
			break // closed by the deadline: what we want
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.ExpectEOF()
	if time.Since(start) > 3*time.Second {
		t.Fatalf("a trickling client kept its handshake open for %v", time.Since(start))
	}
}

func TestMaxConnsAnswers503(t *testing.T) {
	s := startEngine(t, Config{Echo: true, MaxConns: 2}, nil)
	a, b := dialWS(t, s), dialWS(t, s)
	c := dial(t, s)
	c.Write([]byte(upgradeRequest("/ws")))
	_, body := c.ExpectStatus(http.StatusServiceUnavailable)
	if !strings.Contains(body, `"error":"unavailable"`) {
		t.Errorf("body %s", body)
	}
	a.Send(ws.OpText, []byte("a"))
	a.Expect(ws.OpText, []byte("a"))
	// A freed slot can be taken again.
	b.Send(ws.OpClose, []byte{0x03, 0xe8})
	b.ExpectClose(ws.StatusNormalClosure)
	waitFor(t, time.Second, func() error {
		if s.Conns() != 1 {
			return errorf("%d conns", s.Conns())
		}
		return nil
	})
	dialWS(t, s)
}

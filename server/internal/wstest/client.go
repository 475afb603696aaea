package wstest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/frame"
)

// UpgradeRequest is a valid opening handshake for path.
func UpgradeRequest(path string) string {
	return "GET " + path + " HTTP/1.1\r\n" +
		"Host: 127.0.0.1\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n"
}

// MaskedFrame is the wire form of a client frame: payload p masked, as
// RFC 6455 5.3 requires of every frame a client sends.
func MaskedFrame(op ws.OpCode, fin bool, p []byte) []byte {
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	b := frame.AppendHeader(nil, ws.Header{Fin: fin, OpCode: op, Masked: true, Mask: mask, Length: int64(len(p))})
	n := len(b)
	b = append(b, p...)
	ws.Cipher(b[n:], mask, 0)
	return b
}

// Client is a test peer on a raw TCP connection: it writes exactly the
// bytes a test gives it and reads frames back with a deadline, failing
// its test on anything unexpected. NC is the connection, for tests that
// close it or set options; reads go through the Client's buffer.
type Client struct {
	T  testing.TB
	NC net.Conn
	BR *bufio.Reader
}

// Dial connects to addr; the connection closes when the test ends.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	return &Client{T: t, NC: nc, BR: bufio.NewReader(nc)}
}

// DialWS dials addr and completes the upgrade on path.
func DialWS(t testing.TB, addr, path string) *Client {
	t.Helper()
	c := Dial(t, addr)
	c.Write([]byte(UpgradeRequest(path)))
	c.ExpectStatus(http.StatusSwitchingProtocols)
	return c
}

// DialAs dials addr and upgrades on /ws with query (empty or starting
// with ?) and, when header is not empty, that extra header line; it
// reads the welcome and returns it.
func DialAs(t testing.TB, addr, query, header string) (*Client, map[string]any) {
	t.Helper()
	c := Dial(t, addr)
	req := UpgradeRequest("/ws" + query)
	if header != "" {
		req = strings.Replace(req, "\r\n\r\n", "\r\n"+header+"\r\n\r\n", 1)
	}
	c.Write([]byte(req))
	c.ExpectStatus(http.StatusSwitchingProtocols)
	return c, c.ExpectJSON("welcome")
}

// Write writes b whole.
func (c *Client) Write(b []byte) {
	c.T.Helper()
	if _, err := c.NC.Write(b); err != nil {
		c.T.Fatalf("write: %v", err)
	}
}

// ExpectStatus reads an HTTP response head and checks its status. It
// returns the head and, for error answers, the body.
func (c *Client) ExpectStatus(status int) (head, body string) {
	c.T.Helper()
	_ = c.NC.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(c.BR, nil)
	if err != nil {
		c.T.Fatalf("read response: %v", err)
	}
	var h strings.Builder
	_ = resp.Header.Write(&h)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
	}
	if resp.StatusCode != status {
		c.T.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	return h.String(), body
}

// Send writes one whole masked frame.
func (c *Client) Send(op ws.OpCode, p []byte) { c.Write(MaskedFrame(op, true, p)) }

// SendJSON sends s as a text message.
func (c *Client) SendJSON(s string) { c.Send(ws.OpText, []byte(s)) }

// Read reads one server frame.
func (c *Client) Read() (ws.Header, []byte) {
	c.T.Helper()
	h, p, err := c.TryRead(5 * time.Second)
	if err != nil {
		c.T.Fatalf("read frame: %v", err)
	}
	return h, p
}

// TryRead reads one server frame within d.
func (c *Client) TryRead(d time.Duration) (ws.Header, []byte, error) {
	_ = c.NC.SetReadDeadline(time.Now().Add(d))
	h, err := ws.ReadHeader(c.BR)
	if err != nil {
		return h, nil, err
	}
	if h.Masked {
		return h, nil, errors.New("server frame is masked")
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(c.BR, p); err != nil {
		return h, nil, err
	}
	return h, p, nil
}

// Expect reads one frame and checks its opcode and payload.
func (c *Client) Expect(op ws.OpCode, p []byte) {
	c.T.Helper()
	h, got := c.Read()
	if h.OpCode != op || !h.Fin || !bytes.Equal(got, p) {
		c.T.Fatalf("got %v fin=%v %d bytes %q, want %v %d bytes %.40q", h.OpCode, h.Fin, len(got), trunc(got), op, len(p), p)
	}
}

// ExpectClose reads frames until a close frame and checks its code (0:
// a close with no body); it returns the reason.
func (c *Client) ExpectClose(code ws.StatusCode) string {
	c.T.Helper()
	for {
		h, p := c.Read()
		if h.OpCode != ws.OpClose {
			continue
		}
		if code == 0 {
			if len(p) != 0 {
				c.T.Fatalf("close body %q, want none", p)
			}
			return ""
		}
		if len(p) < 2 {
			c.T.Fatalf("close body %q, want code %d", p, code)
		}
		if got := ws.StatusCode(binary.BigEndian.Uint16(p)); got != code {
			c.T.Fatalf("close code %d (%q), want %d", got, p[2:], code)
		}
		return string(p[2:])
	}
}

// ExpectEOF checks that the server ends the TCP connection.
func (c *Client) ExpectEOF() {
	c.T.Helper()
	_ = c.NC.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, err := c.BR.ReadByte()
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.T.Fatalf("connection still open")
		}
		return // EOF or reset
	}
}

// ExpectJSON reads text frames, skipping pings, until one of type typ
// and returns it, failing on any other message type.
func (c *Client) ExpectJSON(typ string) map[string]any {
	c.T.Helper()
	for {
		h, p := c.Read()
		if h.OpCode == ws.OpPing {
			continue
		}
		if h.OpCode != ws.OpText {
			c.T.Fatalf("got %v %q, want a %s message", h.OpCode, p, typ)
		}
		var m map[string]any
		if err := json.Unmarshal(p, &m); err != nil {
			c.T.Fatalf("bad JSON %q: %v", p, err)
		}
		if m["type"] != typ {
			c.T.Fatalf("got %s, want a %s message", p, typ)
		}
		return m
	}
}

// ExpectPush reads the next push and checks its data (compact JSON); it
// returns its pos.
func (c *Client) ExpectPush(data string) string {
	c.T.Helper()
	m := c.ExpectJSON("push")
	got, _ := json.Marshal(m["data"])
	if string(got) != data {
		c.T.Fatalf("push data %s, want %s (%v)", got, data, m)
	}
	p, _ := m["pos"].(string)
	return p
}

// Push is a push envelope as the client receives it.
type Push struct {
	Type string          `json:"type"`
	ID   string          `json:"id"`
	Data json.RawMessage `json:"data"`
	TS   int64           `json:"ts"`
	Room string          `json:"room"`
	From string          `json:"from"`
}

// ExpectPushData reads one frame and checks that it is a push of data
// (compared as compact JSON), to room when room is set.
func (c *Client) ExpectPushData(data, room string) Push {
	c.T.Helper()
	h, p := c.Read()
	var m Push
	if err := json.Unmarshal(p, &m); h.OpCode != ws.OpText || err != nil {
		c.T.Fatalf("got %v %q, want a push of %s", h.OpCode, p, data)
	}
	var want bytes.Buffer
	if err := json.Compact(&want, []byte(data)); err != nil {
		c.T.Fatalf("bad test data %q: %v", data, err)
	}
	if m.Type != "push" || !bytes.Equal(m.Data, want.Bytes()) || m.Room != room || m.ID == "" || m.TS == 0 {
		c.T.Fatalf("got %s, want a push of %s to room %q", p, data, room)
	}
	return m
}

func trunc(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

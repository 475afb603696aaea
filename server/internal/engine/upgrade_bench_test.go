package engine

import (
	"net"
	"strconv"
	"testing"

	"github.com/panjf2000/gnet/v2"
)

// benchConn is the gnet.Conn of BenchmarkUpgrade: a request head to read
// and nowhere to write. Its descriptor is -1, so that the engine's raw
// send fails at once and what it writes goes to Write, which counts it.
// Methods the upgrade does not call panic through the nil gnet.Conn.
type benchConn struct {
	gnet.Conn
	el      gnet.EventLoop
	in      []byte
	ctx     any
	written int
	remote  net.Addr
}

func (c *benchConn) EventLoop() gnet.EventLoop   { return c.el }
func (c *benchConn) Context() any                { return c.ctx }
func (c *benchConn) SetContext(ctx any)          { c.ctx = ctx }
func (c *benchConn) Fd() int                     { return -1 }
func (c *benchConn) RemoteAddr() net.Addr        { return c.remote }
func (c *benchConn) InboundBuffered() int        { return len(c.in) }
func (c *benchConn) OutboundBuffered() int       { return 0 }
func (c *benchConn) Peek(n int) ([]byte, error)  { return c.in[:min(n, len(c.in))], nil }
func (c *benchConn) Write(p []byte) (int, error) { c.written += len(p); return len(p), nil }
func (c *benchConn) Writev(bs [][]byte) (int, error) {
	n := 0
	for _, b := range bs {
		n += len(b)
	}
	c.written += n
	return n, nil
}
func (c *benchConn) Discard(n int) (int, error) {
	n = min(n, len(c.in))
	c.in = c.in[n:]
	return n, nil
}

// benchLoop is the gnet.EventLoop of BenchmarkUpgrade: only its identity
// matters, so that every conn lands on one loop.
type benchLoop struct{ gnet.EventLoop }

// BenchmarkUpgrade is the server's own share of one connection's life
// from accept to the welcome and back: OnOpen, the upgrade of a complete
// request head in one OnTraffic (the request peerbench's client sends, in
// development mode with ?user=), and OnClose. gnet's accept and the
// system calls are not in it; everything the engine adds per handshake
// (auth, trust, negotiation, pool, wheel, welcome) is.
func BenchmarkUpgrade(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  Config
		head string
	}{
		{"dev", Config{}, ""},
		{"dev-deflate-offer", Config{}, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"},
		{"dev-origin", Config{Origins: []string{"https://*.example.com"}}, "Origin: https://app.example.com\r\n"},
		{"dev-proxied", Config{}, "X-Forwarded-For: 203.0.113.7, 10.0.0.2\r\nX-Real-IP: 203.0.113.7\r\n"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := New(tc.cfg, nil, nil)
			el := &benchLoop{}
			remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 40000}
			reqs := make([][]byte, 1024)
			for i := range reqs {
				reqs[i] = []byte("GET /ws?user=u" + strconv.Itoa(i) + " HTTP/1.1\r\nHost: 127.0.0.1:9101\r\n" +
					"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
					"Sec-WebSocket-Version: 13\r\n" + tc.head + "\r\n")
			}
			gc := &benchConn{el: el, remote: remote}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				gc.in, gc.ctx, gc.written = reqs[i%len(reqs)], nil, 0
				i++
				if _, act := s.OnOpen(gc); act != gnet.None {
					b.Fatal("OnOpen refused the connection")
				}
				if act := s.OnTraffic(gc); act != gnet.None {
					b.Fatalf("OnTraffic: action %v", act)
				}
				if c := gc.ctx.(*conn); c.state != stateOpen || gc.written == 0 {
					b.Fatalf("not upgraded: state %v, %d bytes written", c.state, gc.written)
				}
				s.OnClose(gc, nil)
			}
			if got := s.Conns(); got != 0 {
				b.Fatalf("%d conns left open", got)
			}
		})
	}
}

package engine

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/server/internal/wire"
)

func TestEchoSizes(t *testing.T) {
	s := startEngine(t, Config{Echo: true}, nil)
	c := dialWS(t, s)
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536} {
		text := bytes.Repeat([]byte("é"), n/2)
		if n%2 == 1 {
			text = append(text, 'x')
		}
		c.Send(ws.OpText, text)
		c.Expect(ws.OpText, text)
		bin := bytes.Repeat([]byte{0xff, 0x00, 0x80}, n/3+1)[:n]
		c.Send(ws.OpBinary, bin)
		c.Expect(ws.OpBinary, bin)
	}
}

func TestFragmentedTextSplitInsideARuneWithPingBetween(t *testing.T) {
	s := startEngine(t, Config{Echo: true}, nil)
	c := dialWS(t, s)
	msg := []byte("中文 text: 你好")
	var b []byte
	b = append(b, maskedFrame(ws.OpText, false, msg[:1])...) // inside 中
	b = append(b, maskedFrame(ws.OpPing, true, []byte("p"))...)
	b = append(b, maskedFrame(ws.OpContinuation, false, msg[1:7])...)
	b = append(b, maskedFrame(ws.OpContinuation, true, msg[7:])...)
	c.Write(b)
	c.Expect(ws.OpPong, []byte("p"))
	c.Expect(ws.OpText, msg)
}

func TestProtocolErrorsCloseWithTheirCode(t *testing.T) {
	s := startEngine(t, Config{Echo: true, MaxMessage: 1000}, nil)
	unmasked := []byte{0x81, 0x02, 'h', 'i'}
	huge := []byte{0x82, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4} // 2^62 bytes declared
	for _, tc := range []struct {
		name   string
		wire   []byte
		code   ws.StatusCode
		reason wire.CloseReason
	}{
		{"Unmasked", unmasked, ws.StatusProtocolError, wire.ReasonProtocolError},
		{"ReservedBit", func() []byte { b := maskedFrame(ws.OpText, true, []byte("x")); b[0] |= 0x40; return b }(), ws.StatusProtocolError, wire.ReasonProtocolError},
		{"ReservedOpcode", maskedFrame(ws.OpCode(3), true, nil), ws.StatusProtocolError, wire.ReasonProtocolError},
		{"ContinuationWithoutStart", maskedFrame(ws.OpContinuation, true, []byte("x")), ws.StatusProtocolError, wire.ReasonProtocolError},
		{"NewStartInsideFragmented", append(maskedFrame(ws.OpText, false, []byte("a")), maskedFrame(ws.OpText, true, []byte("b"))...), ws.StatusProtocolError, wire.ReasonProtocolError},
		{"FragmentedPing", maskedFrame(ws.OpPing, false, nil), ws.StatusProtocolError, wire.ReasonProtocolError},
		{"PingOver125", maskedFrame(ws.OpPing, true, make([]byte, 126)), ws.StatusProtocolError, wire.ReasonProtocolError},
		{"InvalidUTF8", maskedFrame(ws.OpText, true, []byte{'a', 0xff}), ws.StatusInvalidFramePayloadData, wire.ReasonInvalidUTF8},
		{"InvalidUTF8InFirstFragment", maskedFrame(ws.OpText, false, []byte{0xed, 0xa0, 0x80}), ws.StatusInvalidFramePayloadData, wire.ReasonInvalidUTF8},
		{"MessageOverMax", maskedFrame(ws.OpBinary, true, make([]byte, 1001)), ws.StatusMessageTooBig, wire.ReasonTooLarge},
		{"FragmentsOverMax", append(maskedFrame(ws.OpBinary, false, make([]byte, 600)), maskedFrame(ws.OpContinuation, true, make([]byte, 600))...), ws.StatusMessageTooBig, wire.ReasonTooLarge},
		{"Declares2To62Bytes", huge, ws.StatusMessageTooBig, wire.ReasonTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Counters().Closes[tc.reason]
			c := dialWS(t, s)
			c.Write(tc.wire)
			c.ExpectClose(tc.code)
			// Complete the close handshake: the server drops TCP.
			c.Send(ws.OpClose, []byte{0x03, 0xe8})
			c.ExpectEOF()
			waitFor(t, time.Second, func() error {
				if s.Counters().Closes[tc.reason] == before {
					return errorf("no close recorded as %s", tc.reason)
				}
				return nil
			})
		})
	}
}

func TestBadCloseFramesGetAnAnswerAndTCPClose(t *testing.T) {
	s := startEngine(t, Config{Echo: true}, nil)
	for _, tc := range []struct {
		name string
		body []byte
		code ws.StatusCode
	}{
		{"OneByte", []byte{0x03}, ws.StatusProtocolError},
		{"Code1005", []byte{0x03, 0xed}, ws.StatusProtocolError},
		{"Code999", []byte{0x03, 0xe7}, ws.StatusProtocolError},
		{"Code5000", []byte{0x13, 0x88}, ws.StatusProtocolError},
		{"InvalidUTF8Reason", []byte{0x03, 0xe8, 0xff}, ws.StatusInvalidFramePayloadData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialWS(t, s)
			c.Send(ws.OpClose, tc.body)
			c.ExpectClose(tc.code)
			c.ExpectEOF()
		})
	}
}

func TestClientCloseIsEchoed(t *testing.T) {
	s := startEngine(t, Config{Echo: true}, nil)
	c := dialWS(t, s)
	c.Send(ws.OpClose, append([]byte{0x0f, 0xa0}, "bye"...)) // 4000
	c.ExpectClose(4000)
	c.ExpectEOF()

	c = dialWS(t, s)
	c.Send(ws.OpClose, nil)
	c.ExpectClose(0)
	c.ExpectEOF()
	waitFor(t, time.Second, func() error {
		if n := s.Counters().Closes[wire.ReasonPeerClose]; n != 2 {
			return errorf("%d peer closes", n)
		}
		return nil
	})
}

func TestIdleConnectionIsPingedThenClosed(t *testing.T) {
	s := startEngine(t, Config{Echo: true, PingInterval: 200 * time.Millisecond, IdleTimeout: 700 * time.Millisecond, CloseTimeout: 300 * time.Millisecond}, nil)
	quiet := dialWS(t, s)
	h, _ := quiet.Read()
	if h.OpCode != ws.OpPing {
		t.Fatalf("got %v, want a ping", h.OpCode)
	}
	if reason := quiet.ExpectClose(ws.StatusGoingAway); reason != "idle timeout" {
		t.Fatalf("close reason %q", reason)
	}
	quiet.ExpectEOF() // the close timeout drops it without our close
	waitFor(t, time.Second, closeCount(s, wire.ReasonIdleTimeout))
}

func TestAnsweringPingsKeepsAConnectionAlive(t *testing.T) {
	// The idle timeout leaves a pong 500 ms to come back, which a test
	// goroutine on a loaded machine (the race pass) needs; the loop runs
	// past it twice over.
	s := startEngine(t, Config{Echo: true, PingInterval: 100 * time.Millisecond, IdleTimeout: 600 * time.Millisecond}, nil)
	c := dialWS(t, s)
	deadline := time.Now().Add(1500 * time.Millisecond)
	pings := 0
	for time.Now().Before(deadline) {
		h, p := c.Read()
		if h.OpCode != ws.OpPing {
			t.Fatalf("got %v, want only pings", h.OpCode)
		}
		pings++
		c.Send(ws.OpPong, p)
	}
	if pings < 3 {
		t.Fatalf("%d pings in 1.5s at a 100ms interval", pings)
	}
	c.Send(ws.OpText, []byte("alive"))
	for {
		h, p := c.Read()
		if h.OpCode == ws.OpText {
			if string(p) != "alive" {
				t.Fatalf("got %q", p)
			}
			break
		}
	}
}

func TestSlowReaderIsClosedAndOthersCarryOn(t *testing.T) {
	s := startEngine(t, Config{Echo: true, MaxPending: 256 << 10}, nil)
	slow := dialWS(t, s)
	_ = slow.NC.(*net.TCPConn).SetReadBuffer(4096)
	fast := dialWS(t, s)

	msg := bytes.Repeat([]byte("s"), 16<<10)
	frame := maskedFrame(ws.OpBinary, true, msg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The slow client writes and never reads; the server's echoes pile up
	// in the kernel, then in its outbound queue, until MaxPending.
	go func() {
		for ctx.Err() == nil {
			_ = slow.NC.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := slow.NC.Write(frame); err != nil {
				var ne net.Error
				if ok := asNetErr(err, &ne); ok && ne.Timeout() {
					continue
				}
				return
			}
		}
	}()
	for i := 0; ctx.Err() == nil && s.Counters().Closes[wire.ReasonSlowConsumer] == 0; i++ {
		m := []byte(fmt.Sprintf("fast %d", i))
		fast.Send(ws.OpText, m)
		fast.Expect(ws.OpText, m)
	}
	if s.Counters().Closes[wire.ReasonSlowConsumer] != 1 {
		t.Fatal("the slow reader was never closed")
	}
	fast.Send(ws.OpText, []byte("after"))
	fast.Expect(ws.OpText, []byte("after"))
}

func asNetErr(err error, ne *net.Error) bool {
	e, ok := err.(net.Error)
	if ok {
		*ne = e
	}
	return ok
}

func TestShutdownSendsGoingAwayAndWaits(t *testing.T) {
	s, shutdown := runEngine(t, Config{Echo: true, Loops: 2}, nil, nil)
	clients := make([]*client, 10)
	for i := range clients {
		clients[i] = dialWS(t, s)
	}
	half := dial(t, s)
	half.Write([]byte("GET /ws HTTP/1.1\r\n"))
	waitFor(t, time.Second, func() error {
		if n := s.Counters().TCP; n != 11 {
			return errorf("%d connections open", n)
		}
		return nil
	})

	shut := shutdown()
	for _, c := range clients {
		if reason := c.ExpectClose(ws.StatusGoingAway); !strings.Contains(reason, "shutting down") {
			t.Errorf("reason %q", reason)
		}
		c.Send(ws.OpClose, []byte{0x03, 0xe9})
		c.ExpectEOF()
	}
	half.ExpectEOF()
	// shutdown's error is Stop's or, after it, Run's.
	if err := <-shut; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if n := s.Counters().Closes[wire.ReasonShutdown]; n != 11 {
		t.Errorf("%d shutdown closes, want 11", n)
	}
}

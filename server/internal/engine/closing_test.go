package engine

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/server/internal/wire"
)

// TestCloseAnswerQueuedBehindUnsentEchoes: a client that has not read its
// echoes yet, so that most of them wait in gnet's buffer, sends its close.
// The answer must reach it after all the echoes: gnet, told to close, would
// write what it holds only until the socket is full, and drop the rest.
func TestCloseAnswerQueuedBehindUnsentEchoes(t *testing.T) {
	s := startEngine(t, Config{Echo: true, SendBuffer: 4096, MaxMessage: 1 << 20, MaxPending: 4 << 20, CloseTimeout: time.Hour}, nil)
	c := dialWS(t, s)
	_ = c.NC.(*net.TCPConn).SetReadBuffer(4096)
	const n, size = 10, 16 << 10
	var out []byte
	for i := range n {
		msg := make([]byte, size)
		msg[0] = byte(i)
		out = append(out, maskedFrame(ws.OpBinary, true, msg)...)
	}
	out = append(out, maskedFrame(ws.OpClose, true, []byte{0x03, 0xe8})...)
	c.Write(out)
	// The close is answered while echoes still wait in gnet's buffer.
	waitFor(t, 10*time.Second, func() error {
		waiting := onLoops(s, func(l *loop) int {
			k := 0
			l.wheel.each(func(c *conn) {
				if c.state == stateClosing && c.reason == wire.ReasonPeerClose && c.buffered() > 0 {
					k++
				}
			})
			return k
		})
		if waiting != 1 {
			return errorf("%d connections waiting to send their close answer", waiting)
		}
		return nil
	})
	for i := range n {
		h, p := c.Read()
		if h.OpCode != ws.OpBinary || len(p) != size || p[0] != byte(i) {
			t.Fatalf("echo %d: %v, %d bytes", i, h.OpCode, len(p))
		}
	}
	h, p := c.Read()
	if h.OpCode != ws.OpClose || len(p) < 2 || binary.BigEndian.Uint16(p) != 1000 {
		t.Fatalf("close answer: %+v %x", h, p)
	}
	c.ExpectEOF()
}

// closeExchange runs one connection the way Autobahn's 6.22.19 did when it
// went UNCLEAN: one text message and the close right behind it, in one
// write, so that both arrive in one read. It checks that the echo, then the
// close answer, then the TCP close come back. Pings the wheel sends on the
// way are skipped.
func closeExchange(addr string, payload []byte) error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	// A lost answer never comes: the deadline only bounds the test.
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := nc.Write([]byte(upgradeRequest("/ws"))); err != nil {
		return err
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("upgrade: %d", resp.StatusCode)
	}
	out := append(maskedFrame(ws.OpText, true, payload), maskedFrame(ws.OpClose, true, []byte{0x03, 0xe8})...)
	if _, err := nc.Write(out); err != nil {
		return err
	}
	echoed := false
	for {
		h, err := ws.ReadHeader(br)
		if err != nil {
			return fmt.Errorf("echoed %v, then: %w", echoed, err)
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(br, p); err != nil {
			return err
		}
		switch h.OpCode {
		case ws.OpPing:
			continue
		case ws.OpText:
			if echoed || string(p) != string(payload) {
				return fmt.Errorf("unexpected text %q", p)
			}
			echoed = true
			continue
		case ws.OpClose:
			if !echoed {
				return errors.New("close before the echo")
			}
			if len(p) != 2 || binary.BigEndian.Uint16(p) != 1000 {
				return fmt.Errorf("close answer %x, want 1000", p)
			}
		default:
			return fmt.Errorf("unexpected %v frame", h.OpCode)
		}
		break
	}
	if _, err := br.ReadByte(); err == nil {
		return errors.New("bytes after the close answer")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return errors.New("TCP not closed after the close answer")
	}
	return nil
}

// TestLoadCloseInSameReadAsLastFrame closes thousands of connections with
// the close frame in the same read as the last data frame, while other
// clients keep the loops busy with large echoes and the wheel pings every
// tick: every close must be answered, and only once the echo is out.
func TestLoadCloseInSameReadAsLastFrame(t *testing.T) {
	conns := 4000
	if testing.Short() {
		conns = 400
	}
	s := startEngine(t, Config{Echo: true, PingInterval: 100 * time.Millisecond, MaxMessage: 1 << 20}, nil)

	// The load: echo clients sending 64 KiB messages as fast as they come back.
	stop := make(chan struct{})
	var load sync.WaitGroup
	for range 4 {
		c := dialWS(t, s)
		load.Add(1)
		go func() {
			defer load.Done()
			msg := make([]byte, 64<<10)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.NC.Write(maskedFrame(ws.OpBinary, true, msg)); err != nil {
					return
				}
				for {
					h, _, err := c.TryRead(10 * time.Second)
					if err != nil {
						return
					}
					if h.OpCode == ws.OpBinary {
						break
					}
				}
			}
		}()
	}
	defer func() { close(stop); load.Wait() }()

	payload := []byte("\xf4\x8f\xbf\xbf valid UTF-8 (U+10FFFF) and some more text")
	var next, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(conns) {
				if err := closeExchange(s.Addr().String(), payload); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d connections lost their close answer; first: %v", n, conns, firstErr.Load())
	}
	waitFor(t, 10*time.Second, func() error {
		if n := s.Counters().Closes[wire.ReasonPeerClose]; n < int64(conns) {
			return errorf("%d peer closes recorded", n)
		}
		return nil
	})
}

// TestFrameAfterAFailureIsRead: bytes that arrive in the same read as a
// frame that fails the connection are read at once, not left in gnet's
// buffer until more come: the peer's close, sent right behind a bad frame,
// ends the connection although CloseTimeout is an hour away.
func TestFrameAfterAFailureIsRead(t *testing.T) {
	s := startEngine(t, Config{Echo: true, CloseTimeout: time.Hour}, nil)
	for _, bad := range [][]byte{
		maskedFrame(ws.OpText, true, []byte{'a', 0xff}),            // whole frame, invalid UTF-8
		maskedFrame(ws.OpCode(3), true, nil),                       // reserved opcode, from the header
		maskedFrame(ws.OpText, true, []byte("ok \xed\xa0\x80 ok")), // streamed? no: whole
	} {
		c := dialWS(t, s)
		c.Write(append(bad, maskedFrame(ws.OpClose, true, []byte{0x03, 0xe8})...))
		c.ExpectClose(closeCodeOf(bad))
		c.ExpectEOF()
	}
}

func closeCodeOf(b []byte) ws.StatusCode {
	if b[0]&0x0f == 3 {
		return ws.StatusProtocolError
	}
	return ws.StatusInvalidFramePayloadData
}

package engine

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/server/internal/wire"
)

// maskedFrame is the wire form of a client frame.
func maskedFrame(op ws.OpCode, p []byte) []byte {
	f := ws.MaskFrameInPlace(ws.NewFrame(op, true, append([]byte(nil), p...)))
	return ws.MustCompileFrame(f)
}

// TestCloseAnswerQueuedBehindUnsentEchoes: a client that has not read its
// echoes yet, so that most of them wait in gnet's buffer, sends its close.
// The answer must reach it after all the echoes: gnet, told to close, would
// write what it holds only until the socket is full, and drop the rest.
func TestCloseAnswerQueuedBehindUnsentEchoes(t *testing.T) {
	s := startEngine(t, Config{Echo: true, SendBuffer: 4096, MaxMessage: 1 << 20, MaxPending: 4 << 20, CloseTimeout: time.Hour}, nil)
	nc := wsDial(t, s, "/ws")
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	const n, size = 10, 16 << 10
	var out []byte
	for i := range n {
		msg := make([]byte, size)
		msg[0] = byte(i)
		out = append(out, maskedFrame(ws.OpBinary, msg)...)
	}
	out = append(out, maskedFrame(ws.OpClose, []byte{0x03, 0xe8})...)
	if _, err := nc.Write(out); err != nil {
		t.Fatal(err)
	}
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
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	read := func() (ws.Header, []byte, error) {
		h, err := ws.ReadHeader(nc)
		if err != nil || h.Length > 1<<20 {
			return h, nil, err
		}
		p := make([]byte, h.Length)
		_, err = io.ReadFull(nc, p)
		return h, p, err
	}
	for i := range n {
		h, p, err := read()
		if err != nil || h.OpCode != ws.OpBinary || len(p) != size || p[0] != byte(i) {
			t.Fatalf("echo %d: %v %v, %d bytes", i, err, h.OpCode, len(p))
		}
	}
	h, p, err := read()
	if err != nil || h.OpCode != ws.OpClose || len(p) < 2 || binary.BigEndian.Uint16(p) != 1000 {
		t.Fatalf("close answer: %v %+v", err, h)
	}
	expectEOF(t, nc)
}

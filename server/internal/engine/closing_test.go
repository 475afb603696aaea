package engine

import (
	"encoding/binary"
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
	for i := range n {
		f, err := ws.ReadFrame(nc)
		if err != nil || f.Header.OpCode != ws.OpBinary || len(f.Payload) != size || f.Payload[0] != byte(i) {
			t.Fatalf("echo %d: %v %v, %d bytes", i, err, f.Header.OpCode, len(f.Payload))
		}
	}
	f, err := ws.ReadFrame(nc)
	if err != nil || f.Header.OpCode != ws.OpClose || len(f.Payload) < 2 || binary.BigEndian.Uint16(f.Payload) != 1000 {
		t.Fatalf("close answer: %v %+v", err, f.Header)
	}
	expectEOF(t, nc)
}

package frame_test

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/frame"
)

func TestAppendFrame(t *testing.T) {
	for _, tt := range []struct {
		name   string
		op     ws.OpCode
		n      int
		header []byte
	}{
		{name: "empty text", op: ws.OpText, n: 0, header: []byte{0x81, 0x00}},
		{name: "RFC 5.7 Hello", op: ws.OpText, n: 5, header: []byte{0x81, 0x05}},
		{name: "125-byte pong", op: ws.OpPong, n: 125, header: []byte{0x8a, 0x7d}},
		{name: "126-byte binary", op: ws.OpBinary, n: 126, header: []byte{0x82, 0x7e, 0x00, 0x7e}},
		{name: "RFC 5.7 256-byte binary", op: ws.OpBinary, n: 256, header: []byte{0x82, 0x7e, 0x01, 0x00}},
		{name: "65535-byte text", op: ws.OpText, n: 65535, header: []byte{0x81, 0x7e, 0xff, 0xff}},
		{name: "RFC 5.7 64 KiB binary", op: ws.OpBinary, n: 65536, header: []byte{0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := bytes.Repeat([]byte("x"), tt.n)
			got := frame.AppendFrame([]byte("kept"), tt.op, p)
			want := append(append([]byte("kept"), tt.header...), p...)
			if !bytes.Equal(got, want) {
				t.Errorf("AppendFrame(%v, %d bytes) starts % x; want % x", tt.op, tt.n, got[:min(len(got), 16)], want[:min(len(want), 16)])
			}
			if n := frame.FrameSize(tt.n); n != len(got)-4 {
				t.Errorf("FrameSize(%d) = %d; AppendFrame wrote %d", tt.n, n, len(got)-4)
			}
		})
	}
}

func TestFrameSizeAtEncodingBoundaries(t *testing.T) {
	for _, n := range []int{0, 1, 124, 125, 126, 127, 0xfffe, 0xffff, 0x10000, 0x10001} {
		if got, want := frame.FrameSize(n), len(frame.AppendFrame(nil, ws.OpBinary, make([]byte, n))); got != want {
			t.Errorf("FrameSize(%d) = %d; want %d", n, got, want)
		}
	}
}

// TestPrecompiledControlFrames spells out the shared server frames.
func TestPrecompiledControlFrames(t *testing.T) {
	for _, tt := range []struct {
		name string
		got  []byte
		want []byte
	}{
		{name: "Ping", got: frame.Ping, want: []byte{0x89, 0x00}},
		{name: "Close", got: frame.Close, want: []byte{0x88, 0x00}},
	} {
		if !bytes.Equal(tt.got, tt.want) {
			t.Errorf("%s = % x; want % x", tt.name, tt.got, tt.want)
		}
	}
}

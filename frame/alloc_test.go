package frame_test

import (
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/frame"
)

// Allocation budgets of the hot paths: a server runs them once per frame.

// allocFree fails t unless f allocates nothing.
func allocFree(t *testing.T, name string, f func()) {
	t.Helper()
	if n := testing.AllocsPerRun(100, f); n != 0 {
		t.Errorf("%s: %v allocations per run; want 0", name, n)
	}
}

func TestParseHeaderAllocs(t *testing.T) {
	p := []byte{0x82, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x37, 0xfa, 0x21, 0x3d}
	allocFree(t, "ParseHeader", func() {
		if _, n, err := frame.ParseHeader(p); n != len(p) || err != nil {
			t.Fatal(n, err)
		}
	})
}

// TestReaderSingleFrameAllocs holds Check and Frame of a one-frame masked
// message, unmasking and UTF-8 validation included, at zero allocations.
func TestReaderSingleFrameAllocs(t *testing.T) {
	for _, tt := range []struct {
		name string
		op   ws.OpCode
	}{
		{name: "text", op: ws.OpText},
		{name: "binary", op: ws.OpBinary},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msg := client(true, tt.op, strings.Repeat("wspush €", 40))
			buf := make([]byte, len(msg))
			var r frame.Reader
			allocFree(t, "Check+Frame", func() {
				copy(buf, msg)
				h, hn, err := frame.ParseHeader(buf)
				if err == nil {
					err = r.Check(h, 1<<20)
				}
				if err != nil {
					t.Fatal(err)
				}
				m, err := r.Frame(h, buf[hn:])
				if err != nil || m.Op != tt.op {
					t.Fatal(m.Op, err)
				}
				r.Release()
			})
		})
	}
}

func TestAppendFrameAllocs(t *testing.T) {
	p := []byte(strings.Repeat("x", 300))
	dst := make([]byte, 0, frame.FrameSize(len(p)))
	allocFree(t, "AppendFrame", func() {
		dst = frame.AppendFrame(dst[:0], ws.OpText, p)
	})
}

func TestAppendCloseAllocs(t *testing.T) {
	reason := strings.Repeat("€", 60) // cut to fit
	dst := make([]byte, 0, 2+ws.MaxControlFramePayloadSize)
	allocFree(t, "AppendClose", func() {
		dst = frame.AppendClose(dst[:0], ws.StatusGoingAway, reason)
	})
}

func TestUTF8WriteAllocs(t *testing.T) {
	text := []byte(strings.Repeat("ascii, é, €, \U0001F600; ", 20))
	var u frame.UTF8
	allocFree(t, "UTF8.Write", func() {
		u.Reset()
		if !u.Write(text[:len(text)/2+1]) || !u.Write(text[len(text)/2+1:]) || !u.Done() {
			t.Fatal("invalid")
		}
	})
}

package frame_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/frame"
)

// rfcMask is the masking key of the examples in RFC 6455 5.7.
var rfcMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// headerTests are wire headers and what they decode to. The payload, where
// there is one, is left out: ParseHeader reads only the header.
var headerTests = []struct {
	name string
	wire []byte
	want ws.Header
}{
	{
		name: "RFC 5.7 unmasked text Hello",
		wire: []byte{0x81, 0x05},
		want: ws.Header{Fin: true, OpCode: ws.OpText, Length: 5},
	},
	{
		name: "RFC 5.7 masked text Hello",
		wire: []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d},
		want: ws.Header{Fin: true, OpCode: ws.OpText, Length: 5, Masked: true, Mask: rfcMask},
	},
	{
		name: "RFC 5.7 first fragment Hel",
		wire: []byte{0x01, 0x03},
		want: ws.Header{OpCode: ws.OpText, Length: 3},
	},
	{
		name: "RFC 5.7 last fragment lo",
		wire: []byte{0x80, 0x02},
		want: ws.Header{Fin: true, OpCode: ws.OpContinuation, Length: 2},
	},
	{
		name: "RFC 5.7 unmasked ping",
		wire: []byte{0x89, 0x05},
		want: ws.Header{Fin: true, OpCode: ws.OpPing, Length: 5},
	},
	{
		name: "RFC 5.7 masked pong",
		wire: []byte{0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d},
		want: ws.Header{Fin: true, OpCode: ws.OpPong, Length: 5, Masked: true, Mask: rfcMask},
	},
	{
		name: "empty close",
		wire: []byte{0x88, 0x00},
		want: ws.Header{Fin: true, OpCode: ws.OpClose},
	},
	{
		name: "7-bit length 125, the largest",
		wire: []byte{0x82, 0x7d},
		want: ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 125},
	},
	{
		name: "7-bit length 125 masked",
		wire: []byte{0x82, 0xfd, 0x01, 0x02, 0x03, 0x04},
		want: ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 125, Masked: true, Mask: [4]byte{1, 2, 3, 4}},
	},
	{
		name: "16-bit length 126, the smallest",
		wire: []byte{0x82, 0x7e, 0x00, 0x7e},
		want: ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 126},
	},
	{
		name: "RFC 5.7 16-bit length 256",
		wire: []byte{0x82, 0x7e, 0x01, 0x00},
		want: ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 256},
	},
	{
		name: "16-bit length 65535 masked",
		wire: []byte{0x82, 0xfe, 0xff, 0xff, 0x37, 0xfa, 0x21, 0x3d},
		want: ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 65535, Masked: true, Mask: rfcMask},
	},
	{
		name: "RFC 5.7 64-bit length 65536",
		wire: []byte{0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00},
		want: ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 65536},
	},
	{
		name: "64-bit length 2^62 masked",
		wire: []byte{0x82, 0xff, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x37, 0xfa, 0x21, 0x3d},
		want: ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 1 << 62, Masked: true, Mask: rfcMask},
	},
	{
		name: "64-bit length 2^63-1, the largest",
		wire: []byte{0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		want: ws.Header{Fin: true, OpCode: ws.OpBinary, Length: math.MaxInt64},
	},
	{
		// RFC 6455 5.2 asks for the shortest encoding, but like most
		// endpoints the parser takes a longer one as it comes.
		name: "16-bit encoding of a 7-bit length",
		wire: []byte{0x82, 0x7e, 0x00, 0x05},
		want: ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 5},
	},
	{
		name: "RSV1",
		wire: []byte{0xc1, 0x00},
		want: ws.Header{Fin: true, Rsv: 4, OpCode: ws.OpText},
	},
	{
		name: "RSV2",
		wire: []byte{0xa1, 0x00},
		want: ws.Header{Fin: true, Rsv: 2, OpCode: ws.OpText},
	},
	{
		name: "RSV3",
		wire: []byte{0x91, 0x00},
		want: ws.Header{Fin: true, Rsv: 1, OpCode: ws.OpText},
	},
	{
		// Reserved opcodes parse; Reader.Check refuses them.
		name: "reserved opcode 0xF, all bits set",
		wire: []byte{0xff, 0xfd, 0xff, 0xff, 0xff, 0xff},
		want: ws.Header{Fin: true, Rsv: 7, OpCode: 0xf, Length: 125, Masked: true, Mask: [4]byte{0xff, 0xff, 0xff, 0xff}},
	},
}

func TestParseHeader(t *testing.T) {
	for _, tt := range headerTests {
		t.Run(tt.name, func(t *testing.T) {
			// Bytes after the header belong to the payload and are ignored.
			p := append(bytes.Clone(tt.wire), 0xaa, 0xbb)
			h, n, err := frame.ParseHeader(p)
			if err != nil || n != len(tt.wire) || h != tt.want {
				t.Errorf("ParseHeader(% x) = %+v, %d, %v; want %+v, %d, nil", p, h, n, err, tt.want, len(tt.wire))
			}
		})
	}
}

// TestParseHeaderNeedMoreBytesOnEveryPrefix checks that every strict prefix
// of a header, the empty one included, asks for more bytes.
func TestParseHeaderNeedMoreBytesOnEveryPrefix(t *testing.T) {
	for _, tt := range headerTests {
		for k := range len(tt.wire) {
			h, n, err := frame.ParseHeader(tt.wire[:k])
			if n != 0 || err != nil || h != (ws.Header{}) {
				t.Errorf("%s: ParseHeader(% x) = %+v, %d, %v; want zero, 0, nil", tt.name, tt.wire[:k], h, n, err)
			}
		}
	}
	if _, n, err := frame.ParseHeader(nil); n != 0 || err != nil {
		t.Errorf("ParseHeader(nil) = %d, %v; want 0, nil", n, err)
	}
}

// TestParseHeaderLengthMSB checks RFC 6455 5.2: the most significant bit of
// a 64-bit length must be 0. The error comes once the whole header is there.
func TestParseHeaderLengthMSB(t *testing.T) {
	for _, wire := range [][]byte{
		{0x82, 0x7f, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
		{0x82, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0x81, 0xff, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x37, 0xfa, 0x21, 0x3d},
	} {
		if _, n, err := frame.ParseHeader(wire); n != 0 || !errors.Is(err, ws.ErrHeaderLengthMSB) {
			t.Errorf("ParseHeader(% x) = %d, %v; want 0, %v", wire, n, err, ws.ErrHeaderLengthMSB)
		}
		for k := range len(wire) {
			if _, n, err := frame.ParseHeader(wire[:k]); n != 0 || err != nil {
				t.Errorf("ParseHeader(% x) = %d, %v; want 0, nil", wire[:k], n, err)
			}
		}
	}
}

func TestAppendHeader(t *testing.T) {
	for _, tt := range []struct {
		name string
		h    ws.Header
		want []byte
	}{
		{
			name: "empty final text",
			h:    ws.Header{Fin: true, OpCode: ws.OpText},
			want: []byte{0x81, 0x00},
		},
		{
			name: "RFC 5.7 masked text Hello",
			h:    ws.Header{Fin: true, OpCode: ws.OpText, Length: 5, Masked: true, Mask: rfcMask},
			want: []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d},
		},
		{
			name: "first fragment with RSV1",
			h:    ws.Header{Rsv: 4, OpCode: ws.OpBinary, Length: 3},
			want: []byte{0x42, 0x03},
		},
		{
			name: "125 in 7 bits",
			h:    ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 125},
			want: []byte{0x82, 0x7d},
		},
		{
			name: "126 in 16 bits",
			h:    ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 126},
			want: []byte{0x82, 0x7e, 0x00, 0x7e},
		},
		{
			name: "65535 in 16 bits",
			h:    ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 65535},
			want: []byte{0x82, 0x7e, 0xff, 0xff},
		},
		{
			name: "65536 in 64 bits",
			h:    ws.Header{Fin: true, OpCode: ws.OpBinary, Length: 65536},
			want: []byte{0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00},
		},
		{
			name: "2^63-1 masked in 64 bits",
			h:    ws.Header{Fin: true, OpCode: ws.OpBinary, Length: math.MaxInt64, Masked: true, Mask: rfcMask},
			want: []byte{0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x37, 0xfa, 0x21, 0x3d},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("kept")
			got := frame.AppendHeader(bytes.Clone(prefix), tt.h)
			if !bytes.HasPrefix(got, prefix) || !bytes.Equal(got[len(prefix):], tt.want) {
				t.Errorf("AppendHeader(%q, %+v) = % x; want %q + % x", prefix, tt.h, got, prefix, tt.want)
			}
		})
	}
}

// TestAppendHeaderRoundTrip checks that ParseHeader reads back what
// AppendHeader writes, in the shortest length encoding.
func TestAppendHeaderRoundTrip(t *testing.T) {
	for _, length := range []int64{0, 1, 125, 126, 127, 0xfffe, 0xffff, 0x10000, 1 << 32, 1 << 62, math.MaxInt64} {
		for _, masked := range []bool{false, true} {
			for _, op := range []ws.OpCode{ws.OpContinuation, ws.OpText, ws.OpBinary, ws.OpClose, ws.OpPing, ws.OpPong} {
				h := ws.Header{Fin: op != ws.OpContinuation, Rsv: byte(length % 8), OpCode: op, Length: length, Masked: masked}
				if masked {
					h.Mask = [4]byte{byte(length), 0x5a, 0xa5, byte(op)}
				}
				wire := frame.AppendHeader(nil, h)
				want := 2
				switch {
				case length > 0xffff:
					want += 8
				case length > 125:
					want += 2
				}
				if masked {
					want += 4
				}
				if len(wire) != want {
					t.Errorf("AppendHeader(%+v) is %d bytes; want %d", h, len(wire), want)
				}
				got, n, err := frame.ParseHeader(wire)
				if err != nil || n != len(wire) || got != h {
					t.Errorf("ParseHeader(AppendHeader(%+v)) = %+v, %d, %v", h, got, n, err)
				}
			}
		}
	}
}

// FuzzParseHeader feeds each input whole and in two pieces split where the
// fuzzer chooses, the way bytes arrive from a socket: the first piece alone
// either asks for more bytes or gives exactly what the whole input gives.
func FuzzParseHeader(f *testing.F) {
	for _, tt := range headerTests {
		f.Add(tt.wire, uint(1))
		f.Add(append(bytes.Clone(tt.wire), "payload"...), uint(len(tt.wire)-1))
	}
	f.Add([]byte{0x82, 0x7f, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, uint(9))
	f.Add([]byte{0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3}, uint(12))
	f.Add([]byte{}, uint(0))
	f.Fuzz(func(t *testing.T, p []byte, split uint) {
		h, n, err := frame.ParseHeader(p)
		k := int(split % uint(len(p)+1))
		h1, n1, err1 := frame.ParseHeader(p[:k])
		if n1 == 0 && err1 == nil {
			if h1 != (ws.Header{}) {
				t.Fatalf("ParseHeader(% x) asks for more bytes but returns %+v", p[:k], h1)
			}
			h1, n1, err1 = frame.ParseHeader(p)
		}
		if h1 != h || n1 != n || !errors.Is(err1, err) {
			t.Fatalf("ParseHeader(% x) split at %d = %+v, %d, %v; whole = %+v, %d, %v", p, k, h1, n1, err1, h, n, err)
		}

		switch {
		case err != nil:
			if !errors.Is(err, ws.ErrHeaderLengthMSB) || n != 0 {
				t.Fatalf("ParseHeader(% x) = %d, %v", p, n, err)
			}
			return
		case n == 0:
			if len(p) >= ws.MaxHeaderSize {
				t.Fatalf("ParseHeader(% x) asks for more bytes after %d", p, len(p))
			}
			return
		case n < 2 || n > ws.MaxHeaderSize || n > len(p) || h.Length < 0:
			t.Fatalf("ParseHeader(% x) = %+v, %d", p, h, n)
		}
		for k := range n {
			if _, n, err := frame.ParseHeader(p[:k]); n != 0 || err != nil {
				t.Fatalf("ParseHeader(% x), a strict prefix, = %d, %v", p[:k], n, err)
			}
		}
		wire := frame.AppendHeader(nil, h)
		if got, gn, err := frame.ParseHeader(wire); got != h || gn != len(wire) || err != nil {
			t.Fatalf("ParseHeader(AppendHeader(%+v)) = %+v, %d, %v", h, got, gn, err)
		}
		if len(wire) > n {
			t.Fatalf("AppendHeader(%+v) = % x, longer than % x", h, wire, p[:n])
		}
		if len(wire) == n && !bytes.Equal(wire, p[:n]) {
			t.Fatalf("AppendHeader(%+v) = % x; parsed from % x", h, wire, p[:n])
		}
	})
}

package frame_test

import (
	"bytes"
	"compress/flate"
	"errors"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/frame"
)

// rsv1 is ws.Header.Rsv with only RSV1, the compressed bit, set.
var rsv1 = ws.Rsv(true, false, false)

// deflateRaw is p compressed as a permessage-deflate client would:
// DEFLATE, flushed, without the 00 00 ff ff tail (RFC 7692 7.2.1).
func deflateRaw(t testing.TB, p []byte, level int) []byte {
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, level)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(p)
	_ = w.Flush()
	z := b.Bytes()
	if !bytes.HasSuffix(z, []byte{0, 0, 0xff, 0xff}) {
		t.Fatalf("flushed DEFLATE without the sync tail: % x", z[max(0, len(z)-8):])
	}
	return z[:len(z)-4]
}

// compressedFrames is message p compressed and sent as client frames, cut
// into fragments of at most frag bytes of compressed payload (0: one frame).
func compressedFrames(t testing.TB, op ws.OpCode, p []byte, frag int) []byte {
	z := deflateRaw(t, p, flate.BestSpeed)
	if frag <= 0 {
		frag = len(z) + 1
	}
	var out []byte
	first := true
	for first || len(z) > 0 {
		n := min(frag, len(z))
		h := ws.Header{Fin: n == len(z), OpCode: ws.OpContinuation, Masked: true, Mask: testMask}
		if first {
			h.OpCode, h.Rsv = op, rsv1
		}
		out = append(out, clientFrame(h, z[:n])...)
		z, first = z[n:], false
	}
	return out
}

// readDeflate reads stream as a server that negotiated permessage-deflate:
// whole frames, compressed messages inflated. It returns the messages (op
// and payload) or the first error.
func readDeflate(t testing.TB, stream []byte, maxMessage int) ([]frame.Message, error) {
	var r frame.Reader
	r.SetDeflate(true)
	f := frame.NewInflater()
	var msgs []frame.Message
	for len(stream) > 0 {
		h, hn, err := frame.ParseHeader(stream)
		if err != nil {
			return msgs, err
		}
		if hn == 0 || int64(len(stream)-hn) < h.Length {
			t.Fatalf("unfinished frame in % x", stream)
		}
		if err := r.Check(h, int64(maxMessage)); err != nil {
			return msgs, err
		}
		end := hn + int(h.Length)
		m, err := r.Frame(h, stream[hn:end])
		if err != nil {
			return msgs, err
		}
		if m.Compressed {
			p, err := f.Inflate(m.Op, m.Payload, maxMessage)
			if err != nil {
				return msgs, err
			}
			m.Payload = bytes.Clone(p)
			m.Compressed = false
		} else {
			m.Payload = bytes.Clone(m.Payload)
		}
		if m.Op != ws.OpContinuation {
			msgs = append(msgs, m)
		}
		r.Release()
		stream = stream[end:]
	}
	return msgs, nil
}

func TestInflateMessages(t *testing.T) {
	json := []byte(strings.Repeat(`{"type":"push","data":{"price":"1.25","currency":"€"}}`, 40))
	for _, tc := range []struct {
		name string
		op   ws.OpCode
		p    []byte
		frag int
	}{
		{"empty text", ws.OpText, nil, 0},
		{"short text", ws.OpText, []byte("héllo"), 0},
		{"json", ws.OpText, json, 0},
		{"json in 7-byte fragments", ws.OpText, json, 7},
		{"json in 1-byte fragments", ws.OpText, json, 1},
		{"binary", ws.OpBinary, bytes.Repeat([]byte{0, 1, 2, 0xff}, 5000), 0},
		{"random binary in fragments", ws.OpBinary, randomBytes(70000), 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := readDeflate(t, wire(
				compressedFrames(t, tc.op, tc.p, tc.frag),
				client(true, ws.OpText, "plain, after"),
			), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != 2 || msgs[0].Op != tc.op || !bytes.Equal(msgs[0].Payload, tc.p) || string(msgs[1].Payload) != "plain, after" {
				t.Fatalf("got %d messages: %.60v", len(msgs), msgs)
			}
		})
	}
}

// TestInflatePingBetweenCompressedFragments: control frames may come
// between the fragments of a compressed message, and are not compressed.
func TestInflatePingBetweenCompressedFragments(t *testing.T) {
	p := []byte(strings.Repeat("fragmented and compressed ", 20))
	z := compressedFrames(t, ws.OpText, p, 10)
	h, hn, _ := frame.ParseHeader(z)
	first := z[:hn+int(h.Length)]
	msgs, err := readDeflate(t, wire(first, client(true, ws.OpPing, "p"), z[len(first):]), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Op != ws.OpPing || !bytes.Equal(msgs[1].Payload, p) {
		t.Fatalf("got %v", msgs)
	}
}

// TestInflateErrors checks the close code of each way a compressed stream
// goes wrong.
func TestInflateErrors(t *testing.T) {
	zeros := deflateRaw(t, make([]byte, 10<<20), flate.BestCompression)
	for _, tc := range []struct {
		name   string
		stream []byte
		max    int
		err    error
		code   ws.StatusCode
	}{
		{"RSV1 on a continuation", wire(
			clientFrame(ws.Header{OpCode: ws.OpText, Masked: true, Mask: testMask}, []byte("a")),
			clientFrame(ws.Header{Fin: true, Rsv: rsv1, OpCode: ws.OpContinuation, Masked: true, Mask: testMask}, []byte("b")),
		), 100, frame.ErrCompressionBit, 1002},
		{"RSV1 on a ping", clientFrame(ws.Header{Fin: true, Rsv: rsv1, OpCode: ws.OpPing, Masked: true, Mask: testMask}, nil), 100, frame.ErrCompressionBit, 1002},
		{"RSV1 on a close", clientFrame(ws.Header{Fin: true, Rsv: rsv1, OpCode: ws.OpClose, Masked: true, Mask: testMask}, nil), 100, frame.ErrCompressionBit, 1002},
		{"RSV2", clientFrame(ws.Header{Fin: true, Rsv: ws.Rsv(false, true, false), OpCode: ws.OpText, Masked: true, Mask: testMask}, nil), 100, frame.ErrReservedBits, 1002},
		{"RSV3 with RSV1", clientFrame(ws.Header{Fin: true, Rsv: ws.Rsv(true, false, true), OpCode: ws.OpBinary, Masked: true, Mask: testMask}, nil), 100, frame.ErrReservedBits, 1002},
		{"not DEFLATE", clientFrame(ws.Header{Fin: true, Rsv: rsv1, OpCode: ws.OpBinary, Masked: true, Mask: testMask}, []byte{0xff, 0xff, 0xff}), 100, frame.ErrInflate, 1007},
		{"truncated DEFLATE", compressedFrames(t, ws.OpBinary, randomBytes(100), 0)[:40], 1000, frame.ErrInflate, 1007},
		{"bomb", clientFrame(ws.Header{Fin: true, Rsv: rsv1, OpCode: ws.OpBinary, Masked: true, Mask: testMask}, zeros), 64 << 10, frame.ErrTooLarge, 1009},
		{"one byte over", compressedFrames(t, ws.OpText, []byte(strings.Repeat("x", 101)), 0), 100, frame.ErrTooLarge, 1009},
		{"invalid UTF-8 compressed", compressedFrames(t, ws.OpText, []byte("ok \xed\xa0\x80 no"), 0), 100, frame.ErrInvalidUTF8, 1007},
		{"compressed text ends inside a rune", compressedFrames(t, ws.OpText, []byte("ok \xe4\xb8"), 3), 100, frame.ErrInvalidUTF8, 1007},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "truncated DEFLATE" {
				// Cut inside the payload, then fix up the length.
				h, hn, _ := frame.ParseHeader(tc.stream)
				h.Length = int64(len(tc.stream) - hn)
				tc.stream = append(frame.AppendHeader(nil, h), tc.stream[hn:]...)
			}
			_, err := readDeflate(t, tc.stream, tc.max)
			if !errors.Is(err, tc.err) || frame.CloseCode(err) != tc.code {
				t.Fatalf("err %v (close %d), want %v (close %d)", err, frame.CloseCode(err), tc.err, tc.code)
			}
		})
	}
	// Without the extension, RSV1 is a protocol error like any reserved bit.
	var r frame.Reader
	if err := r.Check(ws.Header{Fin: true, Rsv: rsv1, OpCode: ws.OpText, Masked: true}, 0); frame.CloseCode(err) != 1002 {
		t.Fatalf("RSV1 without the extension: %v", err)
	}
}

// TestInflateBombIsBounded checks that a message inflating to a gigabyte
// costs about maxMessage of memory, not its inflated size.
func TestInflateBombIsBounded(t *testing.T) {
	// A flushed DEFLATE run of zeros ends on a byte boundary, and repeated
	// it inflates to more zeros: 1 GiB from about a megabyte of payload.
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	_, _ = w.Write(make([]byte, 1<<20))
	_ = w.Flush()
	z := bytes.Repeat(b.Bytes(), 1024)
	z = z[:len(z)-4]
	const maxMessage = 1 << 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f := frame.NewInflater()
	if _, err := f.Inflate(ws.OpBinary, z, maxMessage); !errors.Is(err, frame.ErrTooLarge) {
		t.Fatalf("err %v, want ErrTooLarge", err)
	}
	runtime.ReadMemStats(&after)
	// The output grows by doubling up to maxMessage+1 (about twice that
	// in all); the decompressor holds its window and tables. Measured: 3.2
	// MB for a 1 MiB cap, against the 1 GiB it would inflate to.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4*maxMessage {
		t.Fatalf("inflating a %d-byte bomb allocated %d bytes (cap %d)", len(z), grew, maxMessage)
	}
}

// TestDeflaterFrames checks the frames a Deflater makes: RSV1 and FIN set,
// readable by compress/flate with the tail put back, and declined for data
// that does not compress.
func TestDeflaterFrames(t *testing.T) {
	d := frame.NewDeflater(flate.BestSpeed)
	p := []byte(strings.Repeat(`{"k":"value"},`, 100))
	out, ok := d.AppendFrame([]byte("prefix"), ws.OpText, p)
	if !ok || !bytes.HasPrefix(out, []byte("prefix")) {
		t.Fatalf("AppendFrame: ok %v", ok)
	}
	h, hn, err := frame.ParseHeader(out[6:])
	if err != nil || !h.Fin || h.Rsv != rsv1 || h.OpCode != ws.OpText || h.Masked || int(h.Length) != len(out)-6-hn {
		t.Fatalf("header %+v, err %v", h, err)
	}
	if h.Length >= int64(len(p))/4 {
		t.Fatalf("%d bytes compressed to %d", len(p), h.Length)
	}
	back, err := frame.NewInflater().Inflate(ws.OpText, out[6+hn:], 1<<20)
	if err != nil || !bytes.Equal(back, p) {
		t.Fatalf("inflated back: %v", err)
	}
	if out, ok := d.AppendFrame(nil, ws.OpBinary, randomBytes(1000)); ok || len(out) != 0 {
		t.Fatalf("random bytes: ok %v, %d bytes", ok, len(out))
	}
}

// FuzzInflate: any payload marked compressed is inflated or refused with a
// close code, never past maxMessage, never with invalid text; and any
// message compressed, split into fragments at arbitrary points and read
// back comes out as it went in.
func FuzzInflate(f *testing.F) {
	f.Add([]byte("hello hello hello hello"), uint64(3), uint16(100), true)
	f.Add([]byte{}, uint64(0), uint16(10), false)
	f.Add(bytes.Repeat([]byte{0}, 5000), uint64(1), uint16(1000), false)
	f.Add([]byte("\xed\xa0\x80"), uint64(1), uint16(100), true)
	f.Add([]byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, uint64(2), uint16(100), true)
	f.Add([]byte{0x00, 0x00, 0xff, 0xff}, uint64(7), uint16(100), false)
	f.Fuzz(func(t *testing.T, data []byte, split uint64, maxMessage uint16, text bool) {
		op := ws.OpBinary
		if text {
			op = ws.OpText
		}
		max := int(maxMessage) + 1
		// data as a compressed payload, from anyone.
		inf := frame.NewInflater()
		out, err := inf.Inflate(op, data, max)
		switch {
		case err == nil && len(out) > max:
			t.Fatalf("%d bytes out, over %d", len(out), max)
		case err == nil && text && !utf8.Valid(out):
			t.Fatalf("invalid text out: %q", out)
		case err != nil && frame.CloseCode(err) != 1007 && frame.CloseCode(err) != 1009:
			t.Fatalf("err %v, close %d", err, frame.CloseCode(err))
		}
		// data as a message, compressed and fragmented.
		if text && !utf8.Valid(data) {
			return
		}
		z := deflateRaw(t, data, flate.BestSpeed)
		var stream []byte
		rng := rand.New(rand.NewPCG(split, 0))
		first := true
		for first || len(z) > 0 {
			n := min(len(z), rng.IntN(len(z)+1)+int(split%3))
			h := ws.Header{Fin: n == len(z), OpCode: ws.OpContinuation, Masked: true, Mask: testMask}
			if first {
				h.OpCode, h.Rsv = op, rsv1
			}
			stream = append(stream, clientFrame(h, z[:n])...)
			z, first = z[n:], false
		}
		msgs, err := readDeflate(t, stream, max)
		if len(data) > max {
			if !errors.Is(err, frame.ErrTooLarge) {
				t.Fatalf("%d-byte message, cap %d: err %v", len(data), max, err)
			}
			return
		}
		if err != nil || len(msgs) != 1 || !bytes.Equal(msgs[0].Payload, data) {
			t.Fatalf("round trip: err %v, %d messages", err, len(msgs))
		}
	})
}

// BenchmarkInflate inflates a compressed JSON message with a reused
// Inflater, as a loop does for each compressed message it receives.
func BenchmarkInflate(b *testing.B) {
	for _, n := range []int{128, 1024, 16384} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			p := benchJSON(n)
			z := deflateRaw(b, p, flate.BestSpeed)
			f := frame.NewInflater()
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				if out, err := f.Inflate(ws.OpText, z, 1<<20); err != nil || len(out) != n {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDeflate compresses one message with a reused Deflater: the
// cost a fan-out pays once per message, whatever the number of receivers.
func BenchmarkDeflate(b *testing.B) {
	for _, n := range []int{128, 1024, 16384} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			p := benchJSON(n)
			d := frame.NewDeflater(flate.BestSpeed)
			var out []byte
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				var ok bool
				if out, ok = d.AppendFrame(out[:0], ws.OpText, p); !ok {
					b.Fatal("not compressed")
				}
			}
			b.ReportMetric(float64(len(out))/float64(frame.FrameSize(n)), "wire/plain")
		})
	}
}

// benchJSON is n bytes of push-like JSON.
func benchJSON(n int) []byte {
	var b []byte
	for i := 0; len(b) < n; i++ {
		b = append(b, `{"type":"push","id":"m`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `","data":{"user":"u`...)
		b = strconv.AppendInt(b, int64(i*7919%1000), 10)
		b = append(b, `","price":`...)
		b = strconv.AppendFloat(b, float64(i)*1.37, 'f', 2, 64)
		b = append(b, `,"text":"order filled"},"ts":17331`...)
		b = strconv.AppendInt(b, int64(i*31), 10)
		b = append(b, "},"...)
	}
	return b[:n]
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

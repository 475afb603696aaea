package frame_test

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/frame"
)

// limitMax is the maxMessage of this file's tests: --max-message's default.
const limitMax = 65536

// A permessage-deflate message is held to maxMessage on its inflated size,
// the message the application sees, whatever its encoder made of it on the
// wire. Data that does not compress comes out of DEFLATE a little larger
// than it went in, by an amount that depends on the encoder: zlib, behind
// Python's websockets, Node's ws and the browsers, writes such data in
// stored blocks of 5 bytes' overhead each, as long as its memLevel lets a
// block grow (16 KiB at memLevel 8, 2 KiB at websockets' memLevel 5, 128
// bytes at memLevel 1), and in fixed Huffman blocks when its window is too
// small for stored ones.

// storedEncoder is an encoder that stores every block, at most block bytes
// each, as zlib does for data that does not compress.
func storedEncoder(block int) func(dst, p []byte) []byte {
	return func(dst, p []byte) []byte {
		for len(p) > 0 {
			n := min(block, len(p))
			// RFC 1951 3.2.4: BFINAL 0, BTYPE 00, to the byte boundary;
			// LEN and its complement NLEN, little-endian.
			dst = append(dst, 0)
			dst = binary.LittleEndian.AppendUint16(dst, uint16(n))
			dst = binary.LittleEndian.AppendUint16(dst, ^uint16(n))
			dst = append(dst, p[:n]...)
			p = p[n:]
		}
		// The sync flush: an empty stored block (RFC 7692 7.2.1).
		return append(dst, 0, 0, 0, 0xff, 0xff)
	}
}

// flateEncoder is compress/flate at level, one writer for the whole message
// (a message is one compression context), flushed after each part.
func flateEncoder(t testing.TB, level int) func() func(dst, p []byte) []byte {
	return func() func(dst, p []byte) []byte {
		var b bytes.Buffer
		w, err := flate.NewWriter(&b, level)
		if err != nil {
			t.Fatal(err)
		}
		return func(dst, p []byte) []byte {
			b.Reset()
			_, _ = w.Write(p)
			_ = w.Flush()
			return append(dst, b.Bytes()...)
		}
	}
}

// encodeFrames is message p compressed by enc as client frames: each part
// compressed and flushed on its own frame when flushEach (how Node's ws and
// Python's websockets send a fragmented message), or the message compressed
// whole and its compressed bytes cut into frames of cut bytes (0: one frame),
// as Autobahn's fragmented compression cases do. The sync tail 00 00 ff ff
// of the last flush is dropped (RFC 7692 7.2.1).
func encodeFrames(op ws.OpCode, p []byte, enc func(dst, p []byte) []byte, flushEach, cut int) []byte {
	var parts [][]byte
	if flushEach > 0 {
		for len(p) > 0 {
			n := min(flushEach, len(p))
			parts = append(parts, enc(nil, p[:n]))
			p = p[n:]
		}
	} else {
		z := enc(nil, p)
		for cut > 0 && len(z) > cut {
			parts, z = append(parts, z[:cut]), z[cut:]
		}
		parts = append(parts, z)
	}
	last := parts[len(parts)-1]
	parts[len(parts)-1] = bytes.TrimSuffix(last, []byte{0, 0, 0xff, 0xff})
	var out []byte
	for i, z := range parts {
		h := ws.Header{Fin: i == len(parts)-1, OpCode: ws.OpContinuation, Masked: true, Mask: testMask}
		if i == 0 {
			h.OpCode, h.Rsv = op, rsv1
		}
		out = append(out, clientFrame(h, z)...)
	}
	return out
}

// TestCompressedMessageAtMaxMessage sends messages of maxMessage-1,
// maxMessage and maxMessage+1 bytes, compressible and not, whole and
// fragmented, through the encoders real clients use: every one within
// maxMessage arrives whole, the one over it is 1009, as it is without
// compression.
func TestCompressedMessageAtMaxMessage(t *testing.T) {
	encoders := []struct {
		name string
		enc  func() func(dst, p []byte) []byte
	}{
		{"compress/flate BestSpeed", flateEncoder(t, flate.BestSpeed)},
		{"compress/flate BestCompression", flateEncoder(t, flate.BestCompression)},
		{"stored in 16 KiB blocks (zlib memLevel 8: Node ws)", func() func(dst, p []byte) []byte { return storedEncoder(16 << 10) }},
		{"stored in 2 KiB blocks (zlib memLevel 5: Python websockets)", func() func(dst, p []byte) []byte { return storedEncoder(2 << 10) }},
		{"stored in 128-byte blocks (zlib memLevel 1)", func() func(dst, p []byte) []byte { return storedEncoder(128) }},
	}
	shapes := []struct {
		name           string
		flushEach, cut int
	}{
		{"whole", 0, 0},
		{"compressed, cut in 4 KiB frames", 0, 4096},
		{"in 4 KiB fragments, each flushed", 4096, 0},
		{"in 128 fragments, each flushed", limitMax / 128, 0},
	}
	for _, e := range encoders {
		for _, kind := range []string{"json", "random"} {
			for _, n := range []int{limitMax - 1, limitMax, limitMax + 1} {
				p := benchJSON(n)
				op := ws.OpText
				if kind == "random" {
					p, op = randomBytes(n), ws.OpBinary
				}
				for _, s := range shapes {
					t.Run(fmt.Sprintf("%s/%s %d/%s", e.name, kind, n, s.name), func(t *testing.T) {
						stream := encodeFrames(op, p, e.enc(), s.flushEach, s.cut)
						msgs, err := readDeflate(t, stream, limitMax)
						if n > limitMax {
							if !errors.Is(err, frame.ErrTooLarge) || frame.CloseCode(err) != ws.StatusMessageTooBig {
								t.Fatalf("%d bytes (%d on the wire) over %d: err %v, want ErrTooLarge (1009)", n, len(stream), limitMax, err)
							}
							return
						}
						if err != nil {
							t.Fatalf("%d bytes (%d on the wire) within %d: %v", n, len(stream), limitMax, err)
						}
						if len(msgs) != 1 || msgs[0].Op != op || !bytes.Equal(msgs[0].Payload, p) {
							t.Fatalf("got %d messages, want the %d-byte message back", len(msgs), n)
						}
					})
				}
			}
		}
	}
}

// TestCompressedSizeBoundFromTheHeader checks the bound on what a compressed
// message may take on the wire, decided from each frame's header before its
// payload is read: zlib's deflateBound for maxMessage bytes, n + ⌈n/8⌉ +
// ⌈n/64⌉ + 5, and 2 KiB for the flushes of a fragmented message; 76,805
// bytes for 65,536. A plain message on the same connection is held to
// maxMessage itself.
func TestCompressedSizeBoundFromTheHeader(t *testing.T) {
	const bound = 65536 + 8192 + 1024 + 5 + 2048
	hdr := func(fin bool, op ws.OpCode, rsv byte, n int64) ws.Header {
		return ws.Header{Fin: fin, Rsv: rsv, OpCode: op, Masked: true, Mask: testMask, Length: n}
	}
	for _, tc := range []struct {
		name  string
		first int64 // a first, unfinished compressed frame of this many bytes; 0: none
		h     ws.Header
		err   error
	}{
		{"compressed at the bound", 0, hdr(true, ws.OpBinary, rsv1, bound), nil},
		{"compressed one over", 0, hdr(true, ws.OpBinary, rsv1, bound+1), frame.ErrTooLarge},
		{"compressed 2^62", 0, hdr(true, ws.OpBinary, rsv1, 1<<62), frame.ErrTooLarge},
		{"compressed fragments to the bound", 70000, hdr(true, ws.OpContinuation, 0, bound-70000), nil},
		{"compressed fragments one over", 70000, hdr(true, ws.OpContinuation, 0, bound-70000+1), frame.ErrTooLarge},
		{"plain at maxMessage", 0, hdr(true, ws.OpBinary, 0, limitMax), nil},
		{"plain one over", 0, hdr(true, ws.OpBinary, 0, limitMax+1), frame.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r frame.Reader
			r.SetDeflate(true)
			if tc.first > 0 {
				h := hdr(false, ws.OpBinary, rsv1, tc.first)
				if err := r.Check(h, limitMax); err != nil {
					t.Fatalf("first fragment: %v", err)
				}
				if _, err := r.Frame(h, make([]byte, tc.first)); err != nil {
					t.Fatalf("first fragment: %v", err)
				}
			}
			if err := r.Check(tc.h, limitMax); !errors.Is(err, tc.err) {
				t.Fatalf("Check(%d bytes): %v, want %v", tc.h.Length, err, tc.err)
			}
		})
	}
}

// TestCompressedSizeBoundAtTheLargestMaxMessage: at the largest maxMessage
// (and at zero, which means it) the bound on the compressed size is
// 2,449,475,588 bytes, which the reader's 32-bit count of a fragmented
// message's bytes still holds.
func TestCompressedSizeBoundAtTheLargestMaxMessage(t *testing.T) {
	const bound = 2449475588
	for _, maxMessage := range []int64{0, frame.MaxMessage} {
		var r frame.Reader
		r.SetDeflate(true)
		first := ws.Header{Rsv: rsv1, OpCode: ws.OpBinary, Masked: true, Length: bound - 1}
		if err := r.Check(first, maxMessage); err != nil {
			t.Fatalf("maxMessage %d, %d bytes: %v", maxMessage, first.Length, err)
		}
		if err := r.Check(ws.Header{Fin: true, Rsv: rsv1, OpCode: ws.OpBinary, Masked: true, Length: bound + 1}, maxMessage); !errors.Is(err, frame.ErrTooLarge) {
			t.Fatalf("maxMessage %d, %d bytes: %v, want ErrTooLarge", maxMessage, bound+1, err)
		}
	}
}

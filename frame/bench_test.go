package frame_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/frame"
)

// benchSizes are the payload sizes of every benchmark.
var benchSizes = []int{16, 128, 1024, 16384, 65536}

// benchText is n bytes of valid UTF-8, mostly ASCII with some 2-, 3- and
// 4-byte runes, like chat text.
func benchText(n int) []byte {
	const unit = "Hello, wspush! héllo € \U0001F600 "
	s := strings.Repeat(unit, n/len(unit)+1)
	b := []byte(s[:n])
	// Cut at a rune boundary and pad back to n with ASCII.
	for len(b) > 0 && !isRuneEnd(b) {
		b = b[:len(b)-1]
	}
	for len(b) < n {
		b = append(b, '.')
	}
	return b
}

func isRuneEnd(b []byte) bool {
	var u frame.UTF8
	return u.Write(b) && u.Done()
}

// benchClient is a masked client frame whose masking key is zero, so that
// unmasking in place leaves the frame as it was and every iteration reads
// the same bytes; the XOR work is the same as with any other key.
func benchClient(fin bool, op ws.OpCode, p []byte) []byte {
	return clientFrame(ws.Header{Fin: fin, OpCode: op, Masked: true}, p)
}

func BenchmarkParseHeader(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			p := frame.AppendHeader(nil, ws.Header{Fin: true, OpCode: ws.OpBinary, Length: int64(n), Masked: true, Mask: rfcMask})
			b.ReportAllocs()
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				if _, hn, err := frame.ParseHeader(p); hn != len(p) || err != nil {
					b.Fatal(hn, err)
				}
			}
		})
	}
}

// BenchmarkReaderFrame reads one-frame messages: check, unmask and, for
// text, validate UTF-8.
func BenchmarkReaderFrame(b *testing.B) {
	for _, op := range []ws.OpCode{ws.OpText, ws.OpBinary} {
		for _, n := range benchSizes {
			b.Run(opName[op]+"/"+strconv.Itoa(n), func(b *testing.B) {
				msg := benchClient(true, op, benchText(n))
				var r frame.Reader
				b.ReportAllocs()
				b.SetBytes(int64(n))
				for b.Loop() {
					h, hn, err := frame.ParseHeader(msg)
					if err == nil {
						err = r.Check(h, 1<<20)
					}
					if err != nil {
						b.Fatal(err)
					}
					if _, err := r.Frame(h, msg[hn:]); err != nil {
						b.Fatal(err)
					}
					r.Release()
				}
			})
		}
	}
}

// BenchmarkReaderFragmented reads messages sent in four fragments, which
// the reader copies into its assembly buffer.
func BenchmarkReaderFragmented(b *testing.B) {
	const pieces = 4
	for _, op := range []ws.OpCode{ws.OpText, ws.OpBinary} {
		for _, n := range benchSizes {
			b.Run(opName[op]+"/"+strconv.Itoa(n), func(b *testing.B) {
				text := benchText(n)
				var stream []byte
				for i := range pieces {
					fop := ws.OpContinuation
					if i == 0 {
						fop = op
					}
					// Cuts fall anywhere, inside runes too.
					stream = append(stream, benchClient(i == pieces-1, fop, text[i*n/pieces:(i+1)*n/pieces])...)
				}
				var r frame.Reader
				b.ReportAllocs()
				b.SetBytes(int64(n))
				for b.Loop() {
					for p := stream; len(p) > 0; {
						h, hn, err := frame.ParseHeader(p)
						if err == nil {
							err = r.Check(h, 1<<20)
						}
						if err != nil {
							b.Fatal(err)
						}
						end := hn + int(h.Length)
						if _, err := r.Frame(h, p[hn:end]); err != nil {
							b.Fatal(err)
						}
						r.Release()
						p = p[end:]
					}
				}
			})
		}
	}
}

func BenchmarkAppendFrame(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			p := benchText(n)
			dst := make([]byte, 0, frame.FrameSize(n))
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				dst = frame.AppendFrame(dst[:0], ws.OpText, p)
			}
		})
	}
}

func BenchmarkUTF8(b *testing.B) {
	for _, kind := range []string{"ascii", "mixed"} {
		for _, n := range benchSizes {
			b.Run(kind+"/"+strconv.Itoa(n), func(b *testing.B) {
				text := benchText(n)
				if kind == "ascii" {
					text = []byte(strings.Repeat("a", n))
				}
				var u frame.UTF8
				b.ReportAllocs()
				b.SetBytes(int64(n))
				for b.Loop() {
					u.Reset()
					if !u.Write(text) || !u.Done() {
						b.Fatal("invalid")
					}
				}
			})
		}
	}
}

package frame_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/frame"
)

// serveStream is serve with the server's streaming of text frames (package
// server, conn.traffic and conn.stream): a text frame whose payload has not
// all arrived is taken in with Stream and More, and its bytes leave the
// input as they are taken. Its transcript is serve's, except that invalid
// UTF-8 in a text frame still arriving fails at once, where serve waits.
// "wait N" counts the bytes of the unfinished frame, taken or not.
//
// Bytes handed to More are overwritten right after, as gnet may reuse the
// memory Peek returned once they are discarded: the Reader must have
// copied them.
func serveStream(t testing.TB, maxMessage int64, chunks ...[]byte) []string {
	t.Helper()
	var (
		r     frame.Reader
		buf   []byte
		log   []string
		taken int // bytes of the streaming frame already gone from buf
	)
	fail := func(err error) []string {
		r.Reset()
		return append(log, fmt.Sprintf("fail %d: %v", frame.CloseCode(err), err))
	}
	for _, c := range chunks {
		buf = append(buf, c...)
		for len(buf) > 0 {
			if left := r.Left(); left > 0 {
				k := int(min(int64(len(buf)), left))
				m, err := r.More(buf[:k])
				for i := range buf[:k] {
					buf[i] = 0xff // gone: gnet may reuse it
				}
				buf = buf[k:]
				taken += k
				if err != nil {
					return fail(err)
				}
				if r.Left() == 0 {
					taken = 0
				}
				if m.Op != ws.OpContinuation {
					log = append(log, describe(t, m, maxMessage))
				}
				r.Release()
				continue
			}
			h, hn, err := frame.ParseHeader(buf)
			if err != nil {
				return fail(err)
			}
			if hn == 0 {
				break
			}
			if err := r.Check(h, maxMessage); err != nil {
				return fail(err)
			}
			if int64(len(buf)-hn) < h.Length {
				if len(buf) > hn && r.Stream(h) {
					buf = buf[hn:]
					taken = hn
					continue
				}
				break
			}
			end := hn + int(h.Length)
			m, err := r.Frame(h, buf[hn:end])
			if err != nil {
				return fail(err)
			}
			if m.Op != ws.OpContinuation {
				log = append(log, describe(t, m, maxMessage))
			}
			r.Release()
			buf = buf[end:]
		}
	}
	if n := len(buf) + taken; n > 0 {
		log = append(log, fmt.Sprintf("wait %d", n))
	}
	return log
}

// expectStream checks the streaming transcript of stream, delivered whole,
// byte by byte and split in two at every point.
func expectStream(t *testing.T, maxMessage int64, stream []byte, want ...string) {
	t.Helper()
	check := func(how string, chunks ...[]byte) {
		t.Helper()
		if got := serveStream(t, maxMessage, chunks...); !slices.Equal(got, want) {
			t.Fatalf("%s, streaming transcript:\n\t%s\nwant:\n\t%s", how, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
		}
	}
	check("whole", stream)
	var bytewise [][]byte
	for i := range stream {
		bytewise = append(bytewise, stream[i:i+1])
	}
	check("byte by byte", bytewise...)
	for k := range stream {
		check("split at "+strconv.Itoa(k), stream[:k], stream[k:])
	}
}

// TestStreamFailsInsideFrame is Autobahn 6.4.3 and 6.4.4: a text frame
// whose payload turns invalid early, the rest held back. The connection
// fails on what has arrived, not when the frame completes.
func TestStreamFailsInsideFrame(t *testing.T) {
	// κόσμε, then ED A0 80 (a surrogate), then more text never sent.
	valid := "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
	bad := valid + "\xed\xa0\x80" + "edited"
	f := client(true, ws.OpText, bad)
	hn := 2 + 4
	cut := hn + len(valid) + 3 // through the surrogate, not the rest
	fail := failLine(1007, frame.ErrInvalidUTF8)
	expectStream(t, 0, f[:cut], fail)
	// Whole delivery without streaming waits instead (serve, the old way).
	if got := serve(t, 0, f[:cut]); !slices.Equal(got, []string{fmt.Sprintf("wait %d", cut)}) {
		t.Fatalf("serve: %v", got)
	}
	// 6.4.4: the invalid byte is the first of the held-back frame's
	// second half; a valid prefix waits.
	expectStream(t, 0, f[:hn+len(valid)], fmt.Sprintf("wait %d", hn+len(valid)))
	// In a continuation of a text message too.
	g := wire(client(false, ws.OpText, valid), client(true, ws.OpContinuation, "\xed\xa0\x80rest"))
	expectStream(t, 0, g[:len(g)-2], fail)
}

// TestStreamMessages checks that streaming gives the messages that
// whole-frame reading gives, for text single and fragmented, with pings
// between fragments, runes cut by the edges of reads, and binary and
// control frames (which are not streamed) around them.
func TestStreamMessages(t *testing.T) {
	text := "héllo € \U0001F600 wörld"
	stream := wire(
		client(true, ws.OpText, text),
		client(false, ws.OpText, "中"),
		client(true, ws.OpPing, "p"),
		client(false, ws.OpContinuation, "文"+text),
		client(true, ws.OpContinuation, ""),
		client(true, ws.OpBinary, "\xff\x00bin"),
		client(true, ws.OpText, ""),
		client(true, ws.OpClose, closeBody(1000, "bye")),
	)
	want := []string{
		fmt.Sprintf("text %q", text),
		`ping "p"`,
		fmt.Sprintf("text %q", "中文"+text),
		`binary "\xff\x00bin"`,
		`text ""`,
		`close 1000 "bye"`,
	}
	expectStream(t, 0, stream, want...)
	expect(t, 0, stream, want...)
}

// TestStreamEndsInsideRune checks that a text message whose streamed last
// frame ends inside a rune fails when it completes.
func TestStreamEndsInsideRune(t *testing.T) {
	expectStream(t, 0, client(true, ws.OpText, "ok\xe4\xb8"), failLine(1007, frame.ErrInvalidUTF8))
}

// TestStreamKeepsLimits checks that the message cap still holds for
// streamed frames, from their headers.
func TestStreamKeepsLimits(t *testing.T) {
	expectStream(t, 8, wire(client(false, ws.OpText, "hello"), client(true, ws.OpContinuation, "world")),
		failLine(1009, frame.ErrTooLarge))
	expectStream(t, 10, wire(client(false, ws.OpText, "hello"), client(true, ws.OpContinuation, "world")),
		`text "helloworld"`)
}

// TestStreamResetDropsFrame checks that Reset in the middle of a streamed
// frame leaves nothing of it: Left is 0 and the next message starts clean.
func TestStreamResetDropsFrame(t *testing.T) {
	var r frame.Reader
	f := client(true, ws.OpText, "hello")
	h, hn, _ := frame.ParseHeader(f)
	if err := r.Check(h, 0); err != nil || !r.Stream(h) {
		t.Fatalf("Check %v, Stream refused", err)
	}
	if _, err := r.More(f[hn : hn+2]); err != nil || r.Left() != 3 {
		t.Fatalf("More: %v, Left %d, want 3", err, r.Left())
	}
	r.Reset()
	if r.Left() != 0 || r.Fragmented() {
		t.Fatalf("after Reset: Left %d, Fragmented %v", r.Left(), r.Fragmented())
	}
	if got := serveStream(t, 0, client(true, ws.OpText, "next")); !slices.Equal(got, []string{`text "next"`}) {
		t.Fatal(got)
	}
}

// TestStreamNotForBinaryOrCompressed checks what Stream declines: binary
// frames, and compressed text (nothing to check before it is inflated).
func TestStreamNotForBinaryOrCompressed(t *testing.T) {
	var r frame.Reader
	r.SetDeflate(true)
	for _, h := range []ws.Header{
		{Fin: true, OpCode: ws.OpBinary, Length: 10, Masked: true},
		{Fin: true, OpCode: ws.OpText, Rsv: ws.Rsv(true, false, false), Length: 10, Masked: true},
	} {
		if err := r.Check(h, 0); err != nil {
			t.Fatal(err)
		}
		if r.Stream(h) {
			t.Errorf("Stream(%+v) = true", h)
		}
	}
}

// FuzzReaderStream feeds the FuzzReader scripts to serveStream, whole, split
// in two and byte by byte: the transcript must be the model's, with
// invalid UTF-8 in an unfinished text frame failing at once.
func FuzzReaderStream(f *testing.F) {
	f.Add([]byte("\x81\x05Hello"), uint(3), uint16(0))
	f.Add([]byte("\x01\x03Hel\x89\x04ping\x80\x02lo"), uint(7), uint16(0))
	f.Add([]byte("\x01\x02a\xe2\x00\x01\x82\x80\x02\xacb"), uint(9), uint16(0))
	f.Add([]byte("\x81\x09ab\xed\xa0\x80"), uint(4), uint16(0))
	f.Add([]byte("\x81\x09ab\xe4\xb8"), uint(4), uint16(0))
	f.Add([]byte("\x01\x02ab\x80\x05\xed\xa0"), uint(6), uint16(0))
	f.Add([]byte("\x02\x05hello\x00\x05world\x80\x01!"), uint(11), uint16(10))
	f.Add([]byte("\x81\x7e"), uint(100), uint16(400))
	f.Fuzz(func(t *testing.T, script []byte, split uint, maxMessage uint16) {
		stream, frames := clientScript(script)
		want := modelOf(frames, len(stream), int64(maxMessage), true)
		sameEveryWay(t, stream, split, want, func(reads ...[]byte) []string { return serveStream(t, int64(maxMessage), reads...) })
	})
}

// BenchmarkTrickle is a client sending one text frame a byte per read:
// every byte is unmasked and validated once, so the cost per byte stays
// flat as the frame grows (O(n) per frame; the old way, re-reading the
// frame on every read, grew with n). ns/op is per frame; compare the
// ns/byte metric across sizes.
func BenchmarkTrickle(b *testing.B) {
	for _, n := range []int{1024, 16384, 65536} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			f := benchClient(true, ws.OpText, benchText(n))
			h, hn, _ := frame.ParseHeader(f)
			var r frame.Reader
			b.ReportAllocs()
			b.SetBytes(int64(len(f)))
			for b.Loop() {
				if err := r.Check(h, 0); err != nil || !r.Stream(h) {
					b.Fatal(err)
				}
				var m frame.Message
				var err error
				for i := hn; i < len(f); i++ {
					if m, err = r.More(f[i : i+1]); err != nil {
						b.Fatal(err)
					}
				}
				if m.Op != ws.OpText || len(m.Payload) != n || !utf8.Valid(m.Payload) {
					b.Fatal("bad message")
				}
				r.Release()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/byte")
		})
	}
}

package frame_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/frame"
)

// testMask is the masking key of the frames the tests send as a client.
var testMask = [4]byte{0xa1, 0xb2, 0xc3, 0xd4}

// client returns the wire form of one masked client frame.
func client(fin bool, op ws.OpCode, payload string) []byte {
	return clientFrame(ws.Header{Fin: fin, OpCode: op, Masked: true, Mask: testMask}, []byte(payload))
}

// clientFrame returns h followed by payload masked with h.Mask; h.Length is
// set to len(payload).
func clientFrame(h ws.Header, payload []byte) []byte {
	h.Length = int64(len(payload))
	b := frame.AppendHeader(nil, h)
	n := len(b)
	b = append(b, payload...)
	if h.Masked {
		ws.Cipher(b[n:], h.Mask, 0)
	}
	return b
}

// closeBody is the payload of a close frame: code, then reason.
func closeBody(code ws.StatusCode, reason string) string {
	return string([]byte{byte(code >> 8), byte(code)}) + reason
}

// wire joins frames into one stream.
func wire(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

// serve feeds the chunks of one connection's stream to a fresh Reader the
// way a server's event loop does: append what arrived, take every whole
// frame, keep the rest for the next chunk. It returns the transcript: a line
// per message or control frame; then "fail CODE: error" if the connection
// failed, or "wait N" if N bytes of an unfinished frame are left.
func serve(t testing.TB, maxMessage int64, chunks ...[]byte) []string {
	t.Helper()
	var (
		r   frame.Reader
		buf []byte
		log []string
	)
	fail := func(err error) []string {
		r.Reset()
		return append(log, fmt.Sprintf("fail %d: %v", frame.CloseCode(err), err))
	}
	for _, c := range chunks {
		buf = append(buf, c...)
		for {
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
			// Compare in int64: h.Length may be near 2^63 when maxMessage is 0.
			if int64(len(buf)-hn) < h.Length {
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
	if len(buf) > 0 {
		log = append(log, fmt.Sprintf("wait %d", len(buf)))
	}
	return log
}

// describe is the transcript line for m. It fails t if m breaks a promise of
// the Reader: text that is not UTF-8, a message over maxMessage, a close code
// that a peer may not send.
func describe(t testing.TB, m frame.Message, maxMessage int64) string {
	t.Helper()
	switch m.Op {
	case ws.OpText:
		if !utf8.Valid(m.Payload) {
			t.Errorf("text message %q is not valid UTF-8", m.Payload)
		}
	case ws.OpClose:
		if m.Code != ws.StatusNoStatusRcvd && !frame.ValidCloseCode(m.Code) {
			t.Errorf("close frame with code %d", m.Code)
		}
		return fmt.Sprintf("close %d %q", m.Code, m.Payload)
	}
	if !m.Op.IsControl() && maxMessage > 0 && int64(len(m.Payload)) > maxMessage {
		t.Errorf("%d-byte message over the %d-byte cap", len(m.Payload), maxMessage)
	}
	return fmt.Sprintf("%s %q", opName[m.Op], m.Payload)
}

var opName = map[ws.OpCode]string{
	ws.OpText: "text", ws.OpBinary: "binary", ws.OpClose: "close", ws.OpPing: "ping", ws.OpPong: "pong",
}

// failLine is the transcript line of a connection failed by err with code.
func failLine(code ws.StatusCode, err error) string {
	return fmt.Sprintf("fail %d: %v", code, err)
}

// expect checks the transcript of stream, delivered whole, byte by byte and
// split in two at every point.
func expect(t *testing.T, maxMessage int64, stream []byte, want ...string) {
	t.Helper()
	if got := serve(t, maxMessage, stream); !slices.Equal(got, want) {
		t.Fatalf("transcript:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	var bytewise [][]byte
	for i := range stream {
		bytewise = append(bytewise, stream[i:i+1])
	}
	if got := serve(t, maxMessage, bytewise...); !slices.Equal(got, want) {
		t.Fatalf("byte by byte, transcript:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	for k := range stream {
		if got := serve(t, maxMessage, stream[:k], stream[k:]); !slices.Equal(got, want) {
			t.Fatalf("split at %d, transcript:\n\t%s\nwant:\n\t%s", k, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
		}
	}
	// Streaming text frames as they arrive changes nothing here: these
	// streams hold no invalid text in a frame left unfinished.
	expectStream(t, maxMessage, stream, want...)
}

func TestReaderSingleFrameMessages(t *testing.T) {
	expect(t, 0, wire(
		client(true, ws.OpText, "Hello"),
		client(true, ws.OpBinary, "\x00\xff\x80"),
		client(true, ws.OpText, ""),
		client(true, ws.OpText, "日本語 😀"),
	),
		`text "Hello"`,
		`binary "\x00\xff\x80"`,
		`text ""`,
		`text "日本語 😀"`,
	)
}

// TestReaderRFCMaskedHello reads the masked example of RFC 6455 5.7.
func TestReaderRFCMaskedHello(t *testing.T) {
	expect(t, 0, []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}, `text "Hello"`)
}

// TestReaderUnmasksEverySizeAndKey checks the unmasking against a plain
// byte loop for payloads around every boundary of a 16-byte block.
func TestReaderUnmasksEverySizeAndKey(t *testing.T) {
	payload := make([]byte, 300)
	for i := range payload {
		payload[i] = byte(i*7 + 3)
	}
	for _, mask := range [][4]byte{{}, rfcMask, {0xff, 0x00, 0xff, 0x00}} {
		for n := range len(payload) {
			h := ws.Header{Fin: true, OpCode: ws.OpBinary, Length: int64(n), Masked: true, Mask: mask}
			b := frame.AppendHeader(nil, h)
			hn := len(b)
			for i, c := range payload[:n] {
				b = append(b, c^mask[i%4])
			}
			var r frame.Reader
			if err := r.Check(h, 0); err != nil {
				t.Fatal(err)
			}
			m, err := r.Frame(h, b[hn:])
			if err != nil || m.Op != ws.OpBinary || !bytes.Equal(m.Payload, payload[:n]) {
				t.Fatalf("mask % x, %d bytes: got %v, % x, %v", mask, n, m.Op, m.Payload, err)
			}
		}
	}
}

// TestReaderSingleFramePayloadAliasesInput checks that a one-frame message
// is unmasked in place and handed back without a copy.
func TestReaderSingleFramePayloadAliasesInput(t *testing.T) {
	b := client(true, ws.OpText, "in place")
	h, hn, _ := frame.ParseHeader(b)
	var r frame.Reader
	m, err := r.Frame(h, b[hn:])
	if err != nil || &m.Payload[0] != &b[hn] || string(b[hn:]) != "in place" {
		t.Fatalf("Frame = %q, %v; want the input unmasked in place", m.Payload, err)
	}
}

// TestReaderRFCFragmentedHello reads the fragmented example of RFC 6455
// 5.7, masked as a client must.
func TestReaderRFCFragmentedHello(t *testing.T) {
	expect(t, 0, wire(
		client(false, ws.OpText, "Hel"),
		client(true, ws.OpContinuation, "lo"),
	), `text "Hello"`)
}

func TestReaderFragmentedBinaryManyPieces(t *testing.T) {
	expect(t, 0, wire(
		client(false, ws.OpBinary, "\x00"),
		client(false, ws.OpContinuation, ""),
		client(false, ws.OpContinuation, "\x01\x02"),
		client(false, ws.OpContinuation, strings.Repeat("\xff", 200)),
		client(true, ws.OpContinuation, "\x03"),
	), fmt.Sprintf("binary %q", "\x00\x01\x02"+strings.Repeat("\xff", 200)+"\x03"))
}

func TestReaderEmptyFragments(t *testing.T) {
	expect(t, 0, wire(
		client(false, ws.OpText, ""),
		client(true, ws.OpContinuation, ""),
	), `text ""`)
}

func TestReaderPingInsideFragmentedText(t *testing.T) {
	expect(t, 0, wire(
		client(false, ws.OpText, "frag"),
		client(true, ws.OpPing, "are you there"),
		client(false, ws.OpContinuation, "men"),
		client(true, ws.OpPong, ""),
		client(true, ws.OpContinuation, "ted"),
		client(true, ws.OpText, "next"),
	),
		`ping "are you there"`,
		`pong ""`,
		`text "fragmented"`,
		`text "next"`,
	)
}

func TestReaderCloseInsideFragmentedBinary(t *testing.T) {
	expect(t, 0, wire(
		client(false, ws.OpBinary, "half"),
		client(true, ws.OpClose, closeBody(ws.StatusGoingAway, "bye")),
	), `close 1001 "bye"`)
}

// TestReaderMessagesBackToBack checks that a reader goes from one
// fragmented message to the next, and that the second does not see bytes
// of the first in the reused buffer.
func TestReaderMessagesBackToBack(t *testing.T) {
	expect(t, 0, wire(
		client(false, ws.OpText, "long first "),
		client(true, ws.OpContinuation, "message"),
		client(false, ws.OpBinary, "b"),
		client(true, ws.OpContinuation, "2"),
		client(true, ws.OpBinary, "single"),
		client(false, ws.OpText, "€"),
		client(true, ws.OpContinuation, ""),
	),
		`text "long first message"`,
		`binary "b2"`,
		`binary "single"`,
		`text "€"`,
	)
}

// TestReaderTextSplitInsideRune checks that a character cut between
// fragments, at each of its byte boundaries, comes back whole.
func TestReaderTextSplitInsideRune(t *testing.T) {
	for _, s := range []string{"é", "€", "😀"} {
		for i := 1; i < len(s); i++ {
			expect(t, 0, wire(
				client(false, ws.OpText, "a"+s[:i]),
				client(true, ws.OpContinuation, s[i:]+"b"),
			), fmt.Sprintf("text %q", "a"+s+"b"))
		}
	}
	// One byte per fragment.
	s := "a😀€é"
	var frames [][]byte
	for i := range len(s) {
		op := ws.OpContinuation
		if i == 0 {
			op = ws.OpText
		}
		frames = append(frames, client(i == len(s)-1, op, s[i:i+1]))
	}
	expect(t, 0, wire(frames...), fmt.Sprintf("text %q", s))
}

func TestReaderInvalidUTF8SingleFrame(t *testing.T) {
	for _, s := range []string{"\xff", "a\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "end cut \xe2\x82"} {
		expect(t, 0, client(true, ws.OpText, s), failLine(1007, frame.ErrInvalidUTF8))
	}
}

// TestReaderInvalidUTF8FailsOnFirstBadFragment checks that a text message
// fails at the fragment that breaks UTF-8, before its last fragment comes.
func TestReaderInvalidUTF8FailsOnFirstBadFragment(t *testing.T) {
	for _, tt := range []struct {
		name      string
		fragments []string
	}{
		{name: "invalid byte in the first", fragments: []string{"ok\xff"}},
		{name: "invalid byte in the second", fragments: []string{"ok", "\xff"}},
		{name: "surrogate across fragments", fragments: []string{"\xed", "\xa0\x80"}},
		{name: "overlong across fragments", fragments: []string{"a\xe0\x80", "\x80"}},
		{name: "above U+10FFFF across fragments", fragments: []string{"\xf4", "\x90"}},
		{name: "rune cut by an ASCII byte", fragments: []string{"\xe2\x82", "x"}},
		{name: "stray continuation", fragments: []string{"é", "\x80"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var frames [][]byte
			for i, s := range tt.fragments {
				op := ws.OpContinuation
				if i == 0 {
					op = ws.OpText
				}
				frames = append(frames, client(false, op, s))
			}
			// No final fragment: the failure cannot wait for one.
			expect(t, 0, wire(frames...), failLine(1007, frame.ErrInvalidUTF8))
		})
	}
}

// TestReaderTextEndsInsideRune checks that a message whose fragments are
// each fine but whose end cuts a character fails at the final fragment.
func TestReaderTextEndsInsideRune(t *testing.T) {
	expect(t, 0, wire(
		client(false, ws.OpText, "abc"),
		client(true, ws.OpContinuation, "\xf0\x9f\x98"),
	), failLine(1007, frame.ErrInvalidUTF8))
}

// TestReaderBinaryIsNotUTF8Checked checks that only text is validated.
func TestReaderBinaryIsNotUTF8Checked(t *testing.T) {
	expect(t, 0, wire(
		client(false, ws.OpBinary, "\xed\xa0"),
		client(true, ws.OpContinuation, "\x80\xff"),
	), `binary "\xed\xa0\x80\xff"`)
}

// TestReaderCloseCodes checks the codes of RFC 6455 7.4 that a peer may
// send, and that all others fail the connection with 1002.
func TestReaderCloseCodes(t *testing.T) {
	valid := []ws.StatusCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999}
	invalid := []ws.StatusCode{0, 1, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535}
	for _, code := range valid {
		expect(t, 0, client(true, ws.OpClose, closeBody(code, "why")), fmt.Sprintf(`close %d "why"`, code))
	}
	for _, code := range invalid {
		expect(t, 0, client(true, ws.OpClose, closeBody(code, "why")), failLine(1002, frame.ErrCloseCode))
	}
}

func TestReaderCloseWithoutBody(t *testing.T) {
	expect(t, 0, []byte{0x88, 0x80, 0x01, 0x02, 0x03, 0x04}, `close 1005 ""`)
}

func TestReaderCloseCodeWithoutReason(t *testing.T) {
	expect(t, 0, client(true, ws.OpClose, "\x03\xe8"), `close 1000 ""`)
}

func TestReaderCloseOneBytePayload(t *testing.T) {
	expect(t, 0, client(true, ws.OpClose, "\x03"), failLine(1002, frame.ErrCloseLength))
}

func TestReaderCloseReasonInvalidUTF8(t *testing.T) {
	expect(t, 0, client(true, ws.OpClose, closeBody(1000, "bad \xff")), failLine(1007, frame.ErrCloseUTF8))
}

func TestReaderCloseReason123Bytes(t *testing.T) {
	reason := strings.Repeat("€", 41)
	expect(t, 0, client(true, ws.OpClose, closeBody(1000, reason)), fmt.Sprintf("close 1000 %q", reason))
}

func TestReaderReservedBitsWithoutExtension(t *testing.T) {
	for _, rsv := range []byte{1, 2, 4, 7} {
		b := clientFrame(ws.Header{Fin: true, Rsv: rsv, OpCode: ws.OpText, Masked: true, Mask: testMask}, []byte("x"))
		expect(t, 0, b, failLine(1002, ws.ErrProtocolNonZeroRsv))
	}
	// On a control frame and on a continuation as well.
	expect(t, 0, clientFrame(ws.Header{Fin: true, Rsv: 4, OpCode: ws.OpPing, Masked: true}, nil),
		failLine(1002, ws.ErrProtocolNonZeroRsv))
	expect(t, 0, wire(
		client(false, ws.OpText, "a"),
		clientFrame(ws.Header{Fin: true, Rsv: 2, OpCode: ws.OpContinuation, Masked: true}, []byte("b")),
	), failLine(1002, ws.ErrProtocolNonZeroRsv))
}

func TestReaderReservedOpcodes(t *testing.T) {
	for _, op := range []ws.OpCode{3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf} {
		expect(t, 0, client(true, op, ""), failLine(1002, ws.ErrProtocolOpCodeReserved))
		// Inside a fragmented message too.
		expect(t, 0, wire(client(false, ws.OpBinary, "a"), client(true, op, "b")),
			failLine(1002, ws.ErrProtocolOpCodeReserved))
	}
}

func TestReaderControlFrameOver125Bytes(t *testing.T) {
	expect(t, 0, client(true, ws.OpPing, strings.Repeat("p", 125)), fmt.Sprintf("ping %q", strings.Repeat("p", 125)))
	for _, op := range []ws.OpCode{ws.OpPing, ws.OpPong, ws.OpClose} {
		expect(t, 0, client(true, op, closeBody(1000, strings.Repeat("p", 124))),
			failLine(1002, ws.ErrProtocolControlPayloadOverflow))
	}
	// Decided from the header: the 126 bytes never come.
	expect(t, 0, []byte{0x89, 0xfe, 0x00, 0x7e, 0x01, 0x02, 0x03, 0x04},
		failLine(1002, ws.ErrProtocolControlPayloadOverflow))
}

func TestReaderControlFrameNotFinal(t *testing.T) {
	for _, op := range []ws.OpCode{ws.OpPing, ws.OpPong, ws.OpClose} {
		expect(t, 0, client(false, op, ""), failLine(1002, ws.ErrProtocolControlNotFinal))
	}
}

func TestReaderContinuationWithoutStart(t *testing.T) {
	expect(t, 0, client(true, ws.OpContinuation, "x"), failLine(1002, ws.ErrProtocolContinuationUnexpected))
	expect(t, 0, client(false, ws.OpContinuation, "x"), failLine(1002, ws.ErrProtocolContinuationUnexpected))
	// After a fragmented message has ended.
	expect(t, 0, wire(
		client(false, ws.OpText, "a"),
		client(true, ws.OpContinuation, "b"),
		client(true, ws.OpContinuation, "c"),
	), `text "ab"`, failLine(1002, ws.ErrProtocolContinuationUnexpected))
}

func TestReaderNewMessageInsideFragmented(t *testing.T) {
	for _, op := range []ws.OpCode{ws.OpText, ws.OpBinary} {
		for _, fin := range []bool{false, true} {
			expect(t, 0, wire(
				client(false, ws.OpText, "a"),
				client(fin, op, "b"),
			), failLine(1002, ws.ErrProtocolContinuationExpected))
		}
	}
}

func TestReaderUnmaskedClientFrame(t *testing.T) {
	expect(t, 0, []byte{0x81, 0x05, 'H', 'e', 'l', 'l', 'o'}, failLine(1002, ws.ErrProtocolMaskRequired))
	expect(t, 0, []byte{0x89, 0x00}, failLine(1002, ws.ErrProtocolMaskRequired))
	expect(t, 0, wire(
		client(false, ws.OpText, "a"),
		[]byte{0x80, 0x01, 'b'},
	), failLine(1002, ws.ErrProtocolMaskRequired))
}

func TestReaderLengthMSB(t *testing.T) {
	expect(t, 0, []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, failLine(1002, ws.ErrHeaderLengthMSB))
}

// TestReaderTooLargeFromHeaderAlone sends only the header of a frame that
// declares 2^62 bytes: the reader refuses it without waiting for any.
func TestReaderTooLargeFromHeaderAlone(t *testing.T) {
	huge := []byte{0x82, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}
	expect(t, 1<<20, huge, failLine(1009, frame.ErrTooLarge))

	h, _, err := frame.ParseHeader(huge)
	var r frame.Reader
	if err != nil || h.Length != 1<<62 {
		t.Fatalf("ParseHeader = %+v, %v", h, err)
	}
	if err := r.Check(h, 1<<20); err != frame.ErrTooLarge || frame.CloseCode(err) != ws.StatusMessageTooBig {
		t.Fatalf("Check(2^62 bytes) = %v; want %v", err, frame.ErrTooLarge)
	}
	// Zero means the largest cap, frame.MaxMessage: 2^62 bytes is still over it.
	expect(t, 0, huge, failLine(1009, frame.ErrTooLarge))
}

func TestReaderMessageAtAndOverLimit(t *testing.T) {
	expect(t, 5, client(true, ws.OpText, "12345"), `text "12345"`)
	expect(t, 5, client(true, ws.OpText, "123456"), failLine(1009, frame.ErrTooLarge))
}

// TestReaderTooLargeAcrossFragments checks that the cap is on the whole
// message: each fragment is small, their sum is not.
func TestReaderTooLargeAcrossFragments(t *testing.T) {
	expect(t, 10, wire(
		client(false, ws.OpText, "hello"),
		client(false, ws.OpContinuation, "worl"),
		client(true, ws.OpContinuation, "d"),
		client(false, ws.OpBinary, "0123456789"),
		client(true, ws.OpContinuation, ""),
	), `text "helloworld"`, `binary "0123456789"`)
	expect(t, 10, wire(
		client(false, ws.OpText, "hello"),
		client(false, ws.OpContinuation, "world"),
		client(true, ws.OpContinuation, "!"),
	), failLine(1009, frame.ErrTooLarge))
	// The size starts again at zero for the next message.
	expect(t, 10, wire(
		client(false, ws.OpText, "hello"),
		client(true, ws.OpContinuation, "world"),
		client(false, ws.OpText, "hello"),
		client(true, ws.OpContinuation, "world"),
	), `text "helloworld"`, `text "helloworld"`)
}

// TestReaderControlFrameNotCountedInMessageSize checks that a ping inside
// a fragmented message neither counts toward nor is capped by maxMessage.
func TestReaderControlFrameNotCountedInMessageSize(t *testing.T) {
	expect(t, 4, wire(
		client(false, ws.OpBinary, "ab"),
		client(true, ws.OpPing, "longer than four"),
		client(true, ws.OpContinuation, "cd"),
	), `ping "longer than four"`, `binary "abcd"`)
}

func TestReaderWaitsForPayload(t *testing.T) {
	b := client(true, ws.OpText, "Hello")
	expect(t, 0, b[:len(b)-1], fmt.Sprintf("wait %d", len(b)-1))
	expect(t, 0, b[:3], "wait 3")
}

// TestReaderFragmented checks Fragmented through a message and after Reset.
func TestReaderFragmented(t *testing.T) {
	var r frame.Reader
	step := func(b []byte) frame.Message {
		t.Helper()
		h, hn, err := frame.ParseHeader(b)
		if err == nil {
			err = r.Check(h, 0)
		}
		if err != nil {
			t.Fatal(err)
		}
		m, err := r.Frame(h, b[hn:])
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if r.Fragmented() {
		t.Fatal("zero Reader is Fragmented")
	}
	if m := step(client(false, ws.OpText, "a")); m.Op != ws.OpContinuation || !r.Fragmented() {
		t.Fatalf("after the first fragment: %+v, Fragmented %v", m, r.Fragmented())
	}
	r.Release() // does nothing mid-message
	if m := step(client(true, ws.OpPing, "p")); m.Op != ws.OpPing || !r.Fragmented() {
		t.Fatalf("after a ping: %+v, Fragmented %v", m, r.Fragmented())
	}
	if m := step(client(true, ws.OpContinuation, "b")); string(m.Payload) != "ab" || r.Fragmented() {
		t.Fatalf("after the last fragment: %q, Fragmented %v", m.Payload, r.Fragmented())
	}
	r.Release()

	step(client(false, ws.OpText, "\xe2"))
	r.Reset()
	if r.Fragmented() {
		t.Fatal("Fragmented after Reset")
	}
	// The reset reader starts clean: no continuation expected, no UTF-8
	// sequence pending.
	if m := step(client(true, ws.OpText, "x")); string(m.Payload) != "x" {
		t.Fatalf("after Reset: %q", m.Payload)
	}
	h, _, _ := frame.ParseHeader(client(true, ws.OpContinuation, "x"))
	if err := r.Check(h, 0); err != ws.ErrProtocolContinuationUnexpected {
		t.Fatalf("continuation after Reset: Check = %v", err)
	}
}

// FuzzReader builds a stream of client frames from a script chosen by the
// fuzzer and serves it whole, in two pieces split where the fuzzer chooses,
// and byte by byte: every delivery must give the same transcript, and the
// one that model predicts from the frames themselves.
//
// Per frame the script holds a byte with FIN, RSV and opcode as on the
// wire, a byte whose low 7 bits are the payload length, then the payload.
// Length 126 stands for a 300-byte payload (a 16-bit length), 127 for a
// header declaring 2^62 bytes and no payload. A set high bit sends the frame
// unmasked. The last frame may be cut short.
func FuzzReader(f *testing.F) {
	f.Add([]byte("\x81\x05Hello"), uint(3), uint16(0))
	f.Add([]byte("\x01\x03Hel\x89\x04ping\x80\x02lo"), uint(7), uint16(0))
	f.Add([]byte("\x01\x02a\xe2\x00\x01\x82\x80\x02\xacb"), uint(9), uint16(0))
	f.Add([]byte("\x01\x02a\xed\x80\x02\xa0\x80"), uint(5), uint16(0))
	f.Add([]byte("\x02\x05hello\x00\x05world\x80\x01!"), uint(11), uint16(10))
	f.Add([]byte("\x02\x05hello\x00\x05world\x80\x00\x02\x01x\x80\x00"), uint(11), uint16(10))
	f.Add([]byte("\x02\x7f"), uint(6), uint16(1000))
	f.Add([]byte("\x02\x7f\x81\x01a"), uint(6), uint16(0))
	f.Add([]byte("\x02\x7e\x80\x00"), uint(100), uint16(400))
	f.Add([]byte("\x88\x05\x03\xe8bye"), uint(2), uint16(0))
	f.Add([]byte("\x88\x00"), uint(2), uint16(0))
	f.Add([]byte("\x88\x01\x03"), uint(1), uint16(0))
	f.Add([]byte("\x88\x04\x03\xedx\xff"), uint(1), uint16(0))
	f.Add([]byte("\x88\x02\x03\xec"), uint(4), uint16(0))
	f.Add([]byte("\xc1\x01x"), uint(1), uint16(0))
	f.Add([]byte("\x83\x00"), uint(1), uint16(0))
	f.Add([]byte("\x09\x00"), uint(1), uint16(0))
	f.Add([]byte("\x89\x7e"), uint(3), uint16(0))
	f.Add([]byte("\x80\x01x"), uint(1), uint16(0))
	f.Add([]byte("\x01\x01a\x01\x01b"), uint(5), uint16(0))
	f.Add([]byte("\x81\x82hi"), uint(2), uint16(0))
	f.Add([]byte("\x81\x04\xf0\x9f\x98\x80\x81\x03\xf4\x90\x80"), uint(9), uint16(0))
	f.Add([]byte("\x81\x09cut short"), uint(4), uint16(0))
	f.Fuzz(func(t *testing.T, script []byte, split uint, maxMessage uint16) {
		stream, frames := clientScript(script)
		want := model(frames, len(stream), int64(maxMessage))
		sameEveryWay(t, stream, split, want, func(reads ...[]byte) []string { return serve(t, int64(maxMessage), reads...) })
	})
}

// sameEveryWay serves stream with serve whole, split in two at split (mod
// its length) and byte by byte, and checks that each transcript is want.
func sameEveryWay(t *testing.T, stream []byte, split uint, want []string, serve func(reads ...[]byte) []string) {
	t.Helper()
	k := int(split % uint(len(stream)+1))
	bytewise := make([][]byte, 0, len(stream))
	for i := range stream {
		bytewise = append(bytewise, stream[i:i+1])
	}
	for _, d := range []struct {
		name  string
		reads [][]byte
	}{
		{"whole", [][]byte{stream}},
		{fmt.Sprintf("split at %d", k), [][]byte{stream[:k], stream[k:]}},
		{"byte by byte", bytewise},
	} {
		if got := serve(d.reads...); !slices.Equal(got, want) {
			t.Fatalf("stream % x\n%s:\n\t%s\nmodel:\n\t%s", stream, d.name, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
		}
	}
}

// scriptFrame is one frame of a FuzzReader stream.
type scriptFrame struct {
	h       ws.Header
	payload []byte // unmasked; shorter than h.Length if the stream ends inside the frame
	start   int    // offset of the frame in the stream
}

// clientScript turns a FuzzReader script into the wire stream and the
// frames it holds.
func clientScript(script []byte) (stream []byte, frames []scriptFrame) {
	for i := 0; len(script) >= 2; i++ {
		b0, b1 := script[0], script[1]
		script = script[2:]
		h := ws.Header{
			Fin:    b0&0x80 != 0,
			Rsv:    b0 >> 4 & 7,
			OpCode: ws.OpCode(b0 & 0x0f),
			Masked: b1&0x80 == 0,
		}
		if h.Masked {
			h.Mask = [4]byte{0x12, 0x34, b0, byte(i)}
		}
		var payload []byte
		switch n := int(b1 & 0x7f); n {
		case 127:
			h.Length = 1 << 62
		case 126:
			payload = bytes.Repeat([]byte{byte(i)}, 300)
			h.Length = int64(len(payload))
		default:
			payload = script[:min(n, len(script))]
			script = script[len(payload):]
			h.Length = int64(n)
		}
		frames = append(frames, scriptFrame{h: h, payload: payload, start: len(stream)})
		stream = frame.AppendHeader(stream, h)
		hn := len(stream)
		stream = append(stream, payload...)
		if h.Masked {
			ws.Cipher(stream[hn:], h.Mask, 0)
		}
	}
	return stream, frames
}

// model is the transcript that serve should give for a stream of frames,
// worked out from RFC 6455 directly: one rule after another, the whole
// message at hand, no incremental state.
func model(frames []scriptFrame, streamLen int, maxMessage int64) []string {
	return modelOf(frames, streamLen, maxMessage, false)
}

// modelOf is model; with stream, invalid UTF-8 in a text frame still
// arriving fails the connection without waiting for the rest (stream.go).
func modelOf(frames []scriptFrame, streamLen int, maxMessage int64, stream bool) []string {
	var (
		log   []string
		op    ws.OpCode // of the fragmented message in progress, or 0
		msg   []byte
		state = ws.StateServerSide
	)
	for _, f := range frames {
		h, p := f.h, f.payload
		if err := ws.CheckHeader(h, state); err != nil {
			return append(log, failLine(1002, err))
		}
		limit := maxMessage
		if limit <= 0 {
			limit = frame.MaxMessage
		}
		if !h.OpCode.IsControl() && h.Length+int64(len(msg)) > limit {
			return append(log, failLine(1009, frame.ErrTooLarge))
		}
		if int64(len(p)) < h.Length {
			text := h.OpCode == ws.OpText || h.OpCode == ws.OpContinuation && op == ws.OpText
			if stream && text && len(p) > 0 {
				sofar := p
				if h.OpCode == ws.OpContinuation {
					sofar = append(slices.Clip(msg), p...)
				}
				if !validPrefix(sofar) {
					return append(log, failLine(1007, frame.ErrInvalidUTF8))
				}
			}
			// The rest of the stream is this frame's payload, still coming.
			return append(log, fmt.Sprintf("wait %d", streamLen-f.start))
		}
		switch h.OpCode {
		case ws.OpPing, ws.OpPong:
			log = append(log, fmt.Sprintf("%s %q", opName[h.OpCode], p))
			continue
		case ws.OpClose:
			if len(p) == 0 {
				log = append(log, `close 1005 ""`)
				continue
			}
			if len(p) == 1 {
				return append(log, failLine(1002, frame.ErrCloseLength))
			}
			code := ws.StatusCode(p[0])<<8 | ws.StatusCode(p[1])
			valid := code >= 1000 && code <= 1003 || code >= 1007 && code <= 1011 || code >= 3000 && code <= 4999
			if !valid {
				return append(log, failLine(1002, frame.ErrCloseCode))
			}
			if !utf8.Valid(p[2:]) {
				return append(log, failLine(1007, frame.ErrCloseUTF8))
			}
			log = append(log, fmt.Sprintf("close %d %q", code, p[2:]))
			continue
		case ws.OpText, ws.OpBinary:
			op, msg = h.OpCode, nil
			state = state.Set(ws.StateFragmented)
		}
		msg = append(msg, p...)
		// The first fragment that makes valid text impossible fails it.
		if op == ws.OpText && !validPrefix(msg) {
			return append(log, failLine(1007, frame.ErrInvalidUTF8))
		}
		if h.Fin {
			if op == ws.OpText && !utf8.Valid(msg) {
				return append(log, failLine(1007, frame.ErrInvalidUTF8))
			}
			log = append(log, fmt.Sprintf("%s %q", opName[op], msg))
			op, msg = 0, nil
			state = state.Clear(ws.StateFragmented)
		}
	}
	return log
}

package frame_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/frame"
)

// TestValidCloseCode checks every code against RFC 6455 7.4: a peer may
// send 1000-1003, 1007-1011 and 3000-4999, nothing else.
func TestValidCloseCode(t *testing.T) {
	for code := range 1 << 16 {
		c := ws.StatusCode(code)
		want := c >= 1000 && c <= 1003 || c >= 1007 && c <= 1011 || c >= 3000 && c <= 4999
		if got := frame.ValidCloseCode(c); got != want {
			t.Errorf("ValidCloseCode(%d) = %v; want %v", code, got, want)
		}
	}
	for _, c := range []ws.StatusCode{0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		if frame.ValidCloseCode(c) {
			t.Errorf("ValidCloseCode(%d) = true", c)
		}
	}
}

func TestParseClose(t *testing.T) {
	for _, tt := range []struct {
		name   string
		p      []byte
		code   ws.StatusCode
		reason string
		err    error
	}{
		{name: "empty", p: nil, code: ws.StatusNoStatusRcvd},
		{name: "one byte", p: []byte{0x03}, err: frame.ErrCloseLength},
		{name: "1000 no reason", p: []byte{0x03, 0xe8}, code: 1000},
		{name: "1001 reason", p: []byte{0x03, 0xe9, 'b', 'y', 'e'}, code: 1001, reason: "bye"},
		{name: "4999 UTF-8 reason", p: []byte{0x13, 0x87, 0xe2, 0x82, 0xac}, code: 4999, reason: "€"},
		{name: "1005 on the wire", p: []byte{0x03, 0xed}, code: 1005, err: frame.ErrCloseCode},
		{name: "0", p: []byte{0x00, 0x00}, code: 0, err: frame.ErrCloseCode},
		{name: "invalid reason", p: []byte{0x03, 0xe8, 0xc0, 0x80}, code: 1000, err: frame.ErrCloseUTF8},
		{name: "reason cut mid-rune", p: []byte{0x03, 0xe8, 0xe2, 0x82}, code: 1000, err: frame.ErrCloseUTF8},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, reason, err := frame.ParseClose(tt.p)
			if code != tt.code || string(reason) != tt.reason || err != tt.err {
				t.Errorf("ParseClose(% x) = %d, %q, %v; want %d, %q, %v", tt.p, code, reason, err, tt.code, tt.reason, tt.err)
			}
		})
	}
}

func TestAppendClose(t *testing.T) {
	for _, tt := range []struct {
		name   string
		code   ws.StatusCode
		reason string
		want   []byte
	}{
		{name: "code 0 is an empty close", code: 0, reason: "ignored", want: []byte{0x88, 0x00}},
		{name: "1000", code: 1000, want: []byte{0x88, 0x02, 0x03, 0xe8}},
		{name: "1001 bye", code: 1001, reason: "bye", want: []byte{0x88, 0x05, 0x03, 0xe9, 'b', 'y', 'e'}},
		{name: "1009 €", code: 1009, reason: "€", want: []byte{0x88, 0x05, 0x03, 0xf1, 0xe2, 0x82, 0xac}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := frame.AppendClose([]byte("kept"), tt.code, tt.reason)
			if !bytes.Equal(got, append([]byte("kept"), tt.want...)) {
				t.Errorf("AppendClose(%d, %q) = % x; want % x", tt.code, tt.reason, got[4:], tt.want)
			}
		})
	}
}

// TestAppendCloseCutsReasonAtRuneBoundary checks that a long reason is cut
// to the 125-byte control payload without splitting a character.
func TestAppendCloseCutsReasonAtRuneBoundary(t *testing.T) {
	for _, tt := range []struct {
		reason string
		want   string
	}{
		{reason: strings.Repeat("a", 123), want: strings.Repeat("a", 123)},
		{reason: strings.Repeat("a", 124), want: strings.Repeat("a", 123)},
		{reason: strings.Repeat("a", 1000), want: strings.Repeat("a", 123)},
		{reason: strings.Repeat("a", 122) + "é", want: strings.Repeat("a", 122)},
		{reason: strings.Repeat("a", 121) + "é", want: strings.Repeat("a", 121) + "é"},
		{reason: strings.Repeat("a", 121) + "€", want: strings.Repeat("a", 121)},
		{reason: strings.Repeat("a", 120) + "€", want: strings.Repeat("a", 120) + "€"},
		{reason: strings.Repeat("a", 122) + "\U0001F600", want: strings.Repeat("a", 122)},
		{reason: strings.Repeat("a", 120) + "\U0001F600", want: strings.Repeat("a", 120)},
		{reason: strings.Repeat("a", 119) + "\U0001F600", want: strings.Repeat("a", 119) + "\U0001F600"},
		{reason: strings.Repeat("€", 42), want: strings.Repeat("€", 41)},
		{reason: strings.Repeat("\U0001F600", 40), want: strings.Repeat("\U0001F600", 30)},
	} {
		b := frame.AppendClose(nil, ws.StatusGoingAway, tt.reason)
		if len(b) > 2+ws.MaxControlFramePayloadSize {
			t.Fatalf("AppendClose(%q) is %d bytes", tt.reason, len(b))
		}
		h, hn, err := frame.ParseHeader(b)
		if err != nil || h != (ws.Header{Fin: true, OpCode: ws.OpClose, Length: int64(len(b) - hn)}) {
			t.Fatalf("AppendClose(%q): header %+v, %v", tt.reason, h, err)
		}
		code, reason, err := frame.ParseClose(b[hn:])
		if err != nil || code != ws.StatusGoingAway || string(reason) != tt.want || !utf8.Valid(reason) {
			t.Errorf("AppendClose(%q) reason = %q, %v; want %q", tt.reason, reason, err, tt.want)
		}
	}
}

func TestCloseCode(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want ws.StatusCode
	}{
		{err: frame.ErrTooLarge, want: ws.StatusMessageTooBig},
		{err: frame.ErrInvalidUTF8, want: ws.StatusInvalidFramePayloadData},
		{err: frame.ErrCloseUTF8, want: ws.StatusInvalidFramePayloadData},
		{err: frame.ErrCloseLength, want: ws.StatusProtocolError},
		{err: frame.ErrCloseCode, want: ws.StatusProtocolError},
		{err: frame.ErrReservedBits, want: ws.StatusProtocolError},
		{err: frame.ErrNotMasked, want: ws.StatusProtocolError},
		{err: frame.ErrControlLength, want: ws.StatusProtocolError},
		{err: ws.ErrHeaderLengthMSB, want: ws.StatusProtocolError},
		{err: ws.ErrProtocolNonZeroRsv, want: ws.StatusProtocolError},
		{err: ws.ErrProtocolOpCodeReserved, want: ws.StatusProtocolError},
		{err: ws.ErrProtocolControlPayloadOverflow, want: ws.StatusProtocolError},
		{err: ws.ErrProtocolControlNotFinal, want: ws.StatusProtocolError},
		{err: ws.ErrProtocolMaskRequired, want: ws.StatusProtocolError},
		{err: ws.ErrProtocolContinuationExpected, want: ws.StatusProtocolError},
		{err: ws.ErrProtocolContinuationUnexpected, want: ws.StatusProtocolError},
		{err: fmt.Errorf("conn 7: %w", frame.ErrTooLarge), want: ws.StatusMessageTooBig},
		{err: fmt.Errorf("conn 7: %w", frame.ErrInvalidUTF8), want: ws.StatusInvalidFramePayloadData},
		{err: errors.New("anything else"), want: ws.StatusProtocolError},
	} {
		if got := frame.CloseCode(tt.err); got != tt.want {
			t.Errorf("CloseCode(%v) = %d; want %d", tt.err, got, tt.want)
		}
	}
}

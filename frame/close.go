package frame

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// ParseClose parses the payload of a close frame. An empty payload gives
// ws.StatusNoStatusRcvd, which must not be echoed as a code. The reason
// aliases p.
func ParseClose(p []byte) (code ws.StatusCode, reason []byte, err error) {
	switch len(p) {
	case 0:
		return ws.StatusNoStatusRcvd, nil, nil
	case 1:
		// RFC 6455 5.5.1: a close body starts with a two-byte code.
		return 0, nil, ErrCloseLength
	}
	code = ws.StatusCode(binary.BigEndian.Uint16(p))
	if !ValidCloseCode(code) {
		return code, nil, ErrCloseCode
	}
	reason = p[2:]
	// RFC 6455 5.5.1: the reason is UTF-8 encoded data.
	if !utf8.Valid(reason) {
		return code, nil, ErrCloseUTF8
	}
	return code, reason, nil
}

// ValidCloseCode reports whether a peer may send code in a close frame.
//
// RFC 6455 7.4.1 defines 1000-1003 and 1007-1011 (1011 by the IANA
// registry); 1004 is reserved and 1005, 1006 and 1015 must never be sent.
// 3000-3999 are registered for libraries and applications and 4000-4999
// are private. Everything else, 1012-1014 included (registered later for a
// server to send: restart, try again later, bad gateway), is refused, as the
// Autobahn suite expects.
func ValidCloseCode(code ws.StatusCode) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1011:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// AppendClose appends a close frame with code and reason to dst. The reason
// is cut to fit the 125-byte control payload, at a rune boundary so that it
// stays valid UTF-8. A zero code gives an empty close frame.
func AppendClose(dst []byte, code ws.StatusCode, reason string) []byte {
	if code == 0 {
		return append(dst, 0x88, 0)
	}
	if len(reason) > ws.MaxControlFramePayloadSize-2 {
		reason = reason[:ws.MaxControlFramePayloadSize-2]
		for len(reason) > 0 && !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	dst = append(dst, 0x88, byte(2+len(reason)))
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, reason...)
}

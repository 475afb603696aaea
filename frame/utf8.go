package frame

import "unicode/utf8"

// UTF8 validates UTF-8 text that arrives in pieces, such as the fragments
// of one text message. It keeps only the state of a sequence cut at a piece
// boundary, in one byte. The zero value is ready and expects a rune start.
type UTF8 struct {
	state uint8
}

// States of a sequence in progress: how many continuation bytes are still
// due, and for the first of them the narrower range that RFC 3629 section 4
// allows after E0, ED, F0 and F4 (no overlong forms, no surrogates, nothing
// above U+10FFFF).
const (
	utf8Accept uint8 = iota
	utf8Need1        // one more, 80..BF
	utf8Need2        // two more, 80..BF
	utf8Need3        // three more, 80..BF
	utf8NeedE0       // two more, the first A0..BF
	utf8NeedED       // two more, the first 80..9F
	utf8NeedF0       // three more, the first 90..BF
	utf8NeedF4       // three more, the first 80..8F
	utf8Reject
)

// Write validates p as the next piece of the text. It returns false as soon
// as p holds a byte that cannot continue valid UTF-8; the validator then
// stays failed. Whole runes are checked with utf8.Valid, which is fast on
// ASCII; only a sequence cut at the edges of p goes through the byte-wise
// state machine.
func (u *UTF8) Write(p []byte) bool {
	for u.state != utf8Accept && len(p) > 0 {
		if !u.step(p[0]) {
			return false
		}
		p = p[1:]
	}
	if len(p) == 0 {
		// A failed validator stays failed, even for an empty piece.
		return u.state != utf8Reject
	}
	// Leave a trailing sequence that p cuts short to the state machine.
	cut := len(p)
	for i := len(p) - 1; i >= 0 && i >= len(p)-3; i-- {
		if b := p[i]; b >= 0xc0 {
			if need := seqLen(b); need > len(p)-i {
				cut = i
			}
			break
		} else if b < 0x80 {
			break
		}
	}
	if !utf8.Valid(p[:cut]) {
		u.state = utf8Reject
		return false
	}
	for _, b := range p[cut:] {
		if !u.step(b) {
			return false
		}
	}
	return true
}

// Done reports whether the text seen so far is valid and ends on a rune
// boundary, which is what a complete text message must do.
func (u *UTF8) Done() bool { return u.state == utf8Accept }

// Reset readies u for a new text.
func (u *UTF8) Reset() { u.state = utf8Accept }

// seqLen is the length of the sequence that lead byte b starts, or 0 for a
// byte that cannot start one.
func seqLen(b byte) int {
	switch {
	case b < 0x80:
		return 1
	case b >= 0xc2 && b <= 0xdf:
		return 2
	case b >= 0xe0 && b <= 0xef:
		return 3
	case b >= 0xf0 && b <= 0xf4:
		return 4
	}
	return 0
}

func (u *UTF8) step(b byte) bool {
	lo, hi := byte(0x80), byte(0xbf)
	var next uint8
	switch u.state {
	case utf8Accept:
		switch {
		case b < 0x80:
			return true
		case b >= 0xc2 && b <= 0xdf:
			u.state = utf8Need1
		case b == 0xe0:
			u.state = utf8NeedE0
		case b == 0xed:
			u.state = utf8NeedED
		case b >= 0xe1 && b <= 0xef:
			u.state = utf8Need2
		case b == 0xf0:
			u.state = utf8NeedF0
		case b == 0xf4:
			u.state = utf8NeedF4
		case b >= 0xf1 && b <= 0xf3:
			u.state = utf8Need3
		default:
			u.state = utf8Reject
			return false
		}
		return true
	case utf8Need1:
		next = utf8Accept
	case utf8Need2:
		next = utf8Need1
	case utf8Need3:
		next = utf8Need2
	case utf8NeedE0:
		lo, next = 0xa0, utf8Need1
	case utf8NeedED:
		hi, next = 0x9f, utf8Need1
	case utf8NeedF0:
		lo, next = 0x90, utf8Need2
	case utf8NeedF4:
		hi, next = 0x8f, utf8Need2
	default:
		return false
	}
	if b < lo || b > hi {
		u.state = utf8Reject
		return false
	}
	u.state = next
	return true
}

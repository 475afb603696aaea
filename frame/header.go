package frame

import (
	"encoding/binary"

	"github.com/gobwas/ws"
)

// ParseHeader parses one frame header from the start of p.
//
// It returns n == 0 and a nil error while p is too short to hold the whole
// header; nothing is consumed and the caller retries with more bytes. On
// success n is the header's size on the wire (2 to 14 bytes). The header is
// not checked against the protocol state: see Reader.Check.
func ParseHeader(p []byte) (h ws.Header, n int, err error) {
	if len(p) < 2 {
		return h, 0, nil
	}
	n = 2
	switch p[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if p[1]&0x80 != 0 {
		n += 4
	}
	if len(p) < n {
		return h, 0, nil
	}

	h.Fin = p[0]&0x80 != 0
	h.Rsv = (p[0] & 0x70) >> 4
	h.OpCode = ws.OpCode(p[0] & 0x0f)
	h.Masked = p[1]&0x80 != 0

	i := 2
	switch l := p[1] & 0x7f; l {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(p[2:4]))
		i = 4
	case 127:
		u := binary.BigEndian.Uint64(p[2:10])
		// RFC 6455 5.2: the most significant bit of a 64-bit length MUST be 0.
		if u&(1<<63) != 0 {
			return h, 0, ws.ErrHeaderLengthMSB
		}
		h.Length = int64(u)
		i = 10
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		copy(h.Mask[:], p[i:i+4])
	}
	return h, n, nil
}

// AppendHeader appends the wire form of h to dst and returns the extended
// slice. It uses the shortest length encoding, as RFC 6455 5.2 requires.
func AppendHeader(dst []byte, h ws.Header) []byte {
	b0 := byte(h.OpCode) | h.Rsv<<4
	if h.Fin {
		b0 |= 0x80
	}
	var b1 byte
	if h.Masked {
		b1 = 0x80
	}
	switch {
	case h.Length < 126:
		dst = append(dst, b0, b1|byte(h.Length))
	case h.Length <= 0xffff:
		dst = append(dst, b0, b1|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(h.Length))
	default:
		dst = append(dst, b0, b1|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(h.Length))
	}
	if h.Masked {
		dst = append(dst, h.Mask[:]...)
	}
	return dst
}

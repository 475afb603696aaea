package frame

import "github.com/gobwas/ws"

// A text frame is checked as its payload arrives, not once it is whole:
// invalid UTF-8 fails the connection at the first bad byte even while the
// rest of the frame is held back (Autobahn 6.4.3, 6.4.4). The caller hands
// each piece to More once, and drops it from its input: every payload byte
// is unmasked and validated exactly once, so a client that trickles a frame
// one byte at a time costs O(n), not the O(n^2) of re-reading the frame so
// far on every read.
//
// Binary and compressed frames gain nothing from this (there is nothing to
// check before the whole message is there), and a frame that arrives whole
// is still handed to Frame without a copy.

// Stream reports whether the payload of data frame h, which passed Check
// but has not fully arrived, should be taken in as it arrives with More:
// true for a text frame that is not compressed. When it returns true the
// frame has begun: the caller drops its header from the input and from then
// on passes its payload to More, Left bytes in all.
func (r *Reader) Stream(h ws.Header) bool {
	switch {
	case h.OpCode == ws.OpContinuation:
		if r.op != ws.OpText || r.buf.z {
			return false
		}
	case h.OpCode != ws.OpText || r.deflate && h.Rsv&rsv1 != 0:
		return false
	default:
		r.start(h)
	}
	a := r.buf
	a.h, a.off, a.left = h, 0, h.Length
	a.frags++
	return true
}

// Left is how many payload bytes of the frame begun by Stream are still to
// come; 0 when no frame is streaming.
func (r *Reader) Left() int64 {
	if r.buf == nil {
		return 0
	}
	return r.buf.left
}

// More takes p, the next bytes of the payload of the streaming frame (at
// most Left bytes), into the message: it copies them into the message's
// buffer, unmasks and validates them there. p itself is not modified. Once
// the frame is complete, More returns what Frame would have returned for it.
func (r *Reader) More(p []byte) (Message, error) {
	a := r.buf
	if int64(len(p)) > a.left {
		p = p[:a.left]
	}
	n := len(a.b)
	a.b = append(a.b, p...)
	q := a.b[n:]
	if a.h.Masked {
		ws.Cipher(q, a.h.Mask, a.off)
	}
	a.off += len(q)
	a.left -= int64(len(q))
	r.size += uint32(len(q))
	if !r.utf8.Write(q) {
		return Message{}, ErrInvalidUTF8
	}
	if a.left > 0 || !a.h.Fin {
		return Message{}, nil
	}
	return r.finish()
}

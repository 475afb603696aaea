package frame

import (
	"sync"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// Message is what one complete frame gives the reader's caller.
type Message struct {
	// Op is ws.OpText or ws.OpBinary for a whole data message, ws.OpPing,
	// ws.OpPong or ws.OpClose for a control frame, and ws.OpContinuation
	// (zero) when the frame was a fragment of a message not yet complete.
	Op ws.OpCode
	// Payload is the unmasked message, the control payload, or for a close
	// frame its reason. It aliases either the caller's bytes or the
	// reader's assembly buffer, and is valid until the next call to
	// Reader.Frame or Reader.Release.
	Payload []byte
	// Code is the status code of a close frame; ws.StatusNoStatusRcvd when
	// the close frame had no body.
	Code ws.StatusCode
	// Compressed marks a data message sent with permessage-deflate (RFC
	// 7692): Payload is still compressed, and a text message's UTF-8 is
	// not checked yet. Inflater.Inflate gives the message.
	Compressed bool
}

// Reader assembles the frames a client sends into messages. It keeps the
// state that spans frames: the opcode and size of a fragmented message in
// progress, its UTF-8 state and the buffer that collects its fragments.
// Between messages it holds no buffer. The zero value is ready; a Reader is
// used by one goroutine at a time.
type Reader struct {
	op      ws.OpCode // first opcode of the fragmented message in progress, or 0
	utf8    UTF8
	done    bool      // buf holds a delivered message, to go back on Release
	deflate bool      // permessage-deflate was negotiated: RSV1 marks compressed messages
	size    uint32    // bytes of the fragmented message so far (Check caps it)
	buf     *assembly // its fragments, from bufPool; nil between messages
}

// assembly is what a Reader holds only while a message or a frame is in
// progress, so that an idle Reader stays small: the bytes assembled so
// far, and the state of a frame whose payload is still arriving (stream.go).
type assembly struct {
	b []byte
	// z: the message is compressed (RSV1 on its first frame).
	z bool
	// frags: the frames of the message so far.
	frags int
	// A frame taken in as it arrives: its header, and how many payload
	// bytes are taken (the mask offset) and still due.
	h    ws.Header
	off  int
	left int64
}

// maxPooled is the largest assembly buffer kept for reuse.
const maxPooled = 1 << 20

var bufPool = sync.Pool{New: func() any { return &assembly{b: make([]byte, 0, 4096)} }}

// MaxMessage is the largest maxMessage that Check accepts; a larger or
// zero one means MaxMessage.
const MaxMessage = 1<<31 - 1

// Check checks header h against RFC 6455 and the reader's state before any
// of its payload is read, so that a frame declaring 2^62 bytes costs
// nothing. maxMessage caps the size of a whole data message; zero means
// MaxMessage (2 GiB). Only server-side use is supported: client frames must
// be masked.
func (r *Reader) Check(h ws.Header, maxMessage int64) error {
	s := ws.StateServerSide
	if r.op != 0 {
		s = s.Set(ws.StateFragmented)
	}
	if maxMessage <= 0 || maxMessage > MaxMessage {
		maxMessage = MaxMessage
	}
	maxIn := r.maxIn(h, maxMessage)
	if r.deflate {
		if err := checkRsv(h); err != nil {
			return err
		}
		h.Rsv = 0 // checked: ws.CheckHeader checks the rest
	}
	if err := ws.CheckHeader(h, s); err != nil {
		return err
	}
	if !h.OpCode.IsControl() && h.Length > maxIn-int64(r.size) {
		return ErrTooLarge
	}
	return nil
}

// Frame takes in the payload p of a frame whose header h passed Check. It
// unmasks p in place and returns the message the frame completes, if any.
// A single-frame message is returned without a copy: its payload aliases p.
func (r *Reader) Frame(h ws.Header, p []byte) (Message, error) {
	if h.Masked {
		ws.Cipher(p, h.Mask, 0)
	}
	switch h.OpCode {
	case ws.OpPing, ws.OpPong:
		return Message{Op: h.OpCode, Payload: p}, nil
	case ws.OpClose:
		code, reason, err := ParseClose(p)
		if err != nil {
			return Message{}, err
		}
		return Message{Op: ws.OpClose, Payload: reason, Code: code}, nil
	}

	if h.Fin && h.OpCode != ws.OpContinuation {
		if r.deflate && h.Rsv&rsv1 != 0 {
			return Message{Op: h.OpCode, Payload: p, Compressed: true}, nil
		}
		// RFC 6455 8.1: a text message must be valid UTF-8.
		if h.OpCode == ws.OpText && !utf8.Valid(p) {
			return Message{}, ErrInvalidUTF8
		}
		return Message{Op: h.OpCode, Payload: p}, nil
	}

	if h.OpCode != ws.OpContinuation {
		r.start(h)
	}
	r.buf.frags++
	if err := r.take(p); err != nil {
		return Message{}, err
	}
	if !h.Fin {
		return Message{}, nil
	}
	return r.finish()
}

// start begins a message whose first frame has header h.
func (r *Reader) start(h ws.Header) {
	r.release()
	r.op = h.OpCode
	r.utf8.Reset()
	r.buf = bufPool.Get().(*assembly)
	r.buf.b = r.buf.b[:0]
	r.buf.frags = 0
	r.buf.z = r.deflate && h.Rsv&rsv1 != 0
}

// take adds p, unmasked, to the message in progress. A text message fails
// on the first invalid byte, not at the end of the message; a compressed
// one is checked once inflated.
func (r *Reader) take(p []byte) error {
	if r.op == ws.OpText && !r.buf.z && !r.utf8.Write(p) {
		return ErrInvalidUTF8
	}
	r.buf.b = append(r.buf.b, p...)
	r.size += uint32(len(p))
	return nil
}

// finish ends the message in progress with its last frame.
func (r *Reader) finish() (Message, error) {
	z := r.buf.z
	if r.op == ws.OpText && !z && !r.utf8.Done() {
		return Message{}, ErrInvalidUTF8
	}
	m := Message{Op: r.op, Payload: r.buf.b, Compressed: z}
	r.op, r.size, r.done = 0, 0, true
	return m, nil
}

// Fragments is the number of frames of the fragmented message in progress
// so far (the last one returned by Frame, or begun by Stream, included);
// 0 between messages.
func (r *Reader) Fragments() int {
	if r.op == 0 || r.buf == nil {
		return 0
	}
	return r.buf.frags
}

// Fragmented reports whether a fragmented message is in progress.
func (r *Reader) Fragmented() bool { return r.op != 0 }

// Release hands the assembly buffer of the last message back for reuse.
// Call it once a message Frame returned has been handled. It does nothing
// while a fragmented message is still in progress.
func (r *Reader) Release() {
	if r.done {
		r.release()
	}
}

// Reset drops any message in progress and releases its buffer, for a
// connection that is closing.
func (r *Reader) Reset() {
	r.release()
	r.op, r.size = 0, 0
	r.utf8.Reset()
}

func (r *Reader) release() {
	if a := r.buf; a != nil {
		if cap(a.b) <= maxPooled {
			a.h, a.off, a.left = ws.Header{}, 0, 0
			bufPool.Put(a)
		}
		r.buf = nil
	}
	r.done = false
}

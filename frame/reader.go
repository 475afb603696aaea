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
}

// Reader assembles the frames a client sends into messages. It keeps the
// state that spans frames: the opcode and size of a fragmented message in
// progress, its UTF-8 state and the buffer that collects its fragments.
// Between messages it holds no buffer. The zero value is ready; a Reader is
// used by one goroutine at a time.
type Reader struct {
	op   ws.OpCode // first opcode of the fragmented message in progress, or 0
	utf8 UTF8
	done bool    // buf holds a delivered message, to go back on Release
	size uint32  // bytes of the fragmented message so far (Check caps it)
	buf  *[]byte // its fragments, from bufPool; nil between messages
}

// maxPooled is the largest assembly buffer kept for reuse.
const maxPooled = 1 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

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
	if err := ws.CheckHeader(h, s); err != nil {
		return err
	}
	if maxMessage <= 0 || maxMessage > MaxMessage {
		maxMessage = MaxMessage
	}
	if !h.OpCode.IsControl() && h.Length > maxMessage-int64(r.size) {
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
		// RFC 6455 8.1: a text message must be valid UTF-8.
		if h.OpCode == ws.OpText && !utf8.Valid(p) {
			return Message{}, ErrInvalidUTF8
		}
		return Message{Op: h.OpCode, Payload: p}, nil
	}

	if h.OpCode != ws.OpContinuation {
		r.release()
		r.op = h.OpCode
		r.utf8.Reset()
		r.buf = bufPool.Get().(*[]byte)
		*r.buf = (*r.buf)[:0]
	}
	// Fail on the first invalid byte, not at the end of the message.
	if r.op == ws.OpText && !r.utf8.Write(p) {
		return Message{}, ErrInvalidUTF8
	}
	*r.buf = append(*r.buf, p...)
	r.size += uint32(len(p))
	if !h.Fin {
		return Message{}, nil
	}
	if r.op == ws.OpText && !r.utf8.Done() {
		return Message{}, ErrInvalidUTF8
	}
	m := Message{Op: r.op, Payload: *r.buf}
	r.op, r.size, r.done = 0, 0, true
	return m, nil
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
	if r.buf != nil {
		if cap(*r.buf) <= maxPooled {
			bufPool.Put(r.buf)
		}
		r.buf = nil
	}
	r.done = false
}

package frame

import (
	"bytes"
	"compress/flate"
	"io"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// permessage-deflate (RFC 7692) with no context takeover in either
// direction: every message is compressed on its own, so no compression
// state outlives a message and one compressor or decompressor serves every
// connection of an event loop in turn. The negotiation is gobwas/ws's
// wsflate; the codec is the standard library's compress/flate.

// rsv1 is the RSV1 bit of ws.Header.Rsv, the "Per-Message Compressed" bit.
const rsv1 = 0x4

// SetDeflate tells the Reader that permessage-deflate was negotiated, so
// that RSV1 on the first frame of a data message marks it compressed.
func (r *Reader) SetDeflate(on bool) { r.deflate = on }

// Deflate reports whether permessage-deflate was negotiated (SetDeflate).
func (r *Reader) Deflate() bool { return r.deflate }

// checkRsv checks the reserved bits of h when permessage-deflate is on
// (RFC 7692 6): RSV1 only on the first frame of a data message, RSV2 and
// RSV3 never.
func checkRsv(h ws.Header) error {
	switch {
	case h.Rsv&^rsv1 != 0:
		return ErrReservedBits
	case h.Rsv&rsv1 != 0 && (h.OpCode.IsControl() || h.OpCode == ws.OpContinuation):
		return ErrCompressionBit
	}
	return nil
}

// maxIn is the cap, before inflating, on the wire size of the message that
// frame h starts or continues: maxMessage for a plain message, and for a
// compressed one maxCompressed(maxMessage). The cap that matters for a
// compressed message, maxMessage on its inflated size, is Inflate's; this
// one only bounds what the message may cost before it inflates.
func (r *Reader) maxIn(h ws.Header, maxMessage int64) int64 {
	z := r.deflate && h.Rsv&rsv1 != 0
	if h.OpCode == ws.OpContinuation && r.buf != nil {
		z = r.buf.z
	}
	if !z {
		return maxMessage
	}
	return maxCompressed(maxMessage)
}

// flushSlack is what maxCompressed allows for a fragmented message's
// flushes: a client compresses each fragment on its own and flushes it
// (Node's ws, Python's websockets), which costs an empty stored block (5
// bytes) and cuts the block in progress short (at most 5 more); 2 KiB
// covers 200 fragments, more than protocol mode takes (128).
const flushSlack = 2 << 10

// maxCompressed is the most a message of n bytes may take compressed on the
// wire. DEFLATE makes data that does not compress larger, by how much
// depends on the encoder: zlib (behind Node's ws, Python's websockets, the
// browsers and Autobahn) stores such data in blocks of 5 bytes' overhead
// whose size its memLevel sets (16 KiB at its default, 2 KiB at
// websockets' memLevel 5, 128 bytes at memLevel 1: 4 %), and with a small
// window it falls back to fixed Huffman codes (up to 9 bits a byte). The
// bound is zlib's deflateBound for settings other than its defaults, the
// most it ever makes of n bytes, n + ⌈n/8⌉ + ⌈n/64⌉ + 5, plus flushSlack:
// 76,805 bytes for 65,536. At MaxMessage it is under 2^32, which the
// Reader's count of a fragmented message's bytes holds.
func maxCompressed(n int64) int64 {
	return n + (n+7)>>3 + (n+63)>>6 + 5 + flushSlack
}

// Inflater decompresses permessage-deflate messages. One serves all the
// connections of an event loop, one message at a time. The zero value is
// not ready: use NewInflater.
type Inflater struct {
	src  bytes.Reader
	r    *wsflate.Reader
	out  []byte
	utf8 UTF8
}

// flateReader adapts compress/flate's reader to the Reset that wsflate
// calls, so that one decompressor is reset rather than reallocated (it
// holds a 32 KiB window) for every message.
type flateReader struct{ io.ReadCloser }

func (f flateReader) Reset(r io.Reader) { _ = f.ReadCloser.(flate.Resetter).Reset(r, nil) }

// NewInflater returns an Inflater.
func NewInflater() *Inflater {
	f := &Inflater{}
	f.r = wsflate.NewReader(&f.src, func(r io.Reader) wsflate.Decompressor {
		return flateReader{flate.NewReader(r)}
	})
	return f
}

// Inflate decompresses the payload p of a compressed message with opcode
// op and returns the message, in a buffer of the Inflater's that is valid
// until the next call to Inflate or Release. It writes at most maxMessage+1
// bytes: a message that inflates past maxMessage is ErrTooLarge, however
// small p is. A text message fails at the first invalid UTF-8 byte
// (ErrInvalidUTF8); a payload that is not DEFLATE data is ErrInflate.
func (f *Inflater) Inflate(op ws.OpCode, p []byte, maxMessage int) ([]byte, error) {
	if maxMessage <= 0 || maxMessage > MaxMessage {
		maxMessage = MaxMessage
	}
	f.src.Reset(p)
	f.r.Reset(&f.src)
	f.utf8.Reset()
	out := f.out[:0]
	var err error
	for {
		if len(out) == cap(out) {
			if len(out) > maxMessage {
				err = ErrTooLarge
				break
			}
			// Grow towards maxMessage+1 and no further.
			grown := make([]byte, len(out), len(out)+min(max(len(out), 4096), maxMessage+1-len(out)))
			out = grown[:copy(grown, out)]
		}
		var n int
		n, err = f.r.Read(out[len(out):cap(out)])
		if op == ws.OpText && !f.utf8.Write(out[len(out):len(out)+n]) {
			err = ErrInvalidUTF8
		}
		out = out[:len(out)+n]
		if len(out) > maxMessage {
			err = ErrTooLarge
		}
		if err != nil {
			break
		}
	}
	f.out = out
	switch err {
	case io.EOF:
		if op == ws.OpText && !f.utf8.Done() {
			return nil, ErrInvalidUTF8
		}
		return out, nil
	case ErrTooLarge, ErrInvalidUTF8:
		return nil, err
	}
	return nil, ErrInflate
}

// Release drops the Inflater's output buffer if a large message grew it,
// so that one big message does not pin its size for good.
func (f *Inflater) Release() {
	if cap(f.out) > maxPooled {
		f.out = nil
	}
}

// Deflater compresses outgoing messages for permessage-deflate. One serves
// an event loop; since nothing carries over from one message to the next,
// the frame it makes is valid on every connection that negotiated the
// extension. The zero value is not ready: use NewDeflater.
type Deflater struct {
	w   *wsflate.Writer
	buf bytes.Buffer
}

// NewDeflater returns a Deflater compressing at level, as compress/flate
// numbers them (flate.BestSpeed .. flate.BestCompression).
func NewDeflater(level int) *Deflater {
	d := &Deflater{}
	d.w = wsflate.NewWriter(nil, func(w io.Writer) wsflate.Compressor {
		fw, _ := flate.NewWriter(w, level)
		return fw
	})
	return d
}

// AppendFrame appends to dst one final server frame with opcode op whose
// payload is p compressed, with RSV1 set. When compressing does not make
// the payload smaller it appends nothing and reports false: the plain
// frame is the better one to send.
func (d *Deflater) AppendFrame(dst []byte, op ws.OpCode, p []byte) ([]byte, bool) {
	d.buf.Reset()
	d.w.Reset(&d.buf)
	if _, err := d.w.Write(p); err != nil {
		return dst, false
	}
	if err := d.w.Flush(); err != nil || d.buf.Len() >= len(p) {
		return dst, false
	}
	z := d.buf.Bytes()
	dst = AppendHeader(dst, ws.Header{Fin: true, Rsv: rsv1, OpCode: op, Length: int64(len(z))})
	dst = append(dst, z...)
	if cap(d.buf.Bytes()) > maxPooled {
		d.buf = bytes.Buffer{}
	}
	return dst, true
}

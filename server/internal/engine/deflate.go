package engine

import (
	"bytes"
	"compress/flate"
	"sync"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"

	"github.com/wspush/wspush/frame"
)

// permessage-deflate (RFC 7692). It is negotiated with no context takeover
// in both directions, so that nothing of the codec lives with a connection
// between messages: a connection that negotiated it costs one bit more
// than one that did not (frame.Reader's deflate flag) plus one for whether
// we may compress to it (conn.zout). The compressor and the decompressor
// belong to the event loop and serve its connections in turn.
//
// Outbound, a push, room publish or broadcast is compressed at most once,
// by the first loop that meets a receiver wanting it (shared.deflated), and
// the same compressed frame goes to every such receiver on every loop; the
// others get the plain frame, itself encoded once. Messages under
// CompressionThreshold go plain to everyone.

// DefaultCompressionThreshold is the smallest payload compressed by
// default: below about this size DEFLATE's block overhead eats the gain.
const DefaultCompressionThreshold = 128

// deflateLevel is the compress/flate level of outgoing messages. A fan-out
// message is compressed once for all its receivers; BestSpeed keeps the
// per-message echo and replies cheap too.
const deflateLevel = flate.BestSpeed

// deflateParams is what the server answers an offer with: no context
// takeover either way (RFC 7692 7.1.1.1 and 7.1.1.2 let the server ask for
// both).
var deflateParams = wsflate.Parameters{ServerNoContextTakeover: true, ClientNoContextTakeover: true}

// loopFlate is a loop's share of permessage-deflate: the handshake's
// negotiation and the codec, made on first use.
type loopFlate struct {
	ext  wsflate.Extension // reset before each handshake
	zout bool              // the offer accepted lets us compress (full window)
	infl *frame.Inflater
	defl *frame.Deflater
	run  []*shared // compressible frames of the fan-out run being written
	ziov [][]byte  // a run's frames as a compressing receiver gets them

	stats flateStats
}

// negotiate is the upgrader's Negotiate: it accepts the first
// permessage-deflate offer it can, through gobwas/ws's wsflate.Extension.
// An offer that limits our window (server_max_window_bits) is accepted
// with the same limit echoed, as RFC 7692 7.1.2.1 requires, and then we do
// not compress to that client at all (compress/flate always uses the full
// 32 KiB window): sending uncompressed messages is always allowed.
func (l *loop) negotiate(opt httphead.Option) (httphead.Option, error) {
	if !bytes.Equal(opt.Name, wsflate.ExtensionNameBytes) {
		return httphead.Option{}, nil
	}
	if _, done := l.fl.ext.Accepted(); done {
		return httphead.Option{}, nil
	}
	var offer wsflate.Parameters
	if offer.Parse(opt) != nil {
		// A malformed offer is declined, not the handshake (RFC 7692 5).
		return httphead.Option{}, nil
	}
	l.fl.ext.Parameters = deflateParams
	l.fl.ext.Parameters.ServerMaxWindowBits = offer.ServerMaxWindowBits
	l.fl.zout = !offer.ServerMaxWindowBits.Defined() || offer.ServerMaxWindowBits == 15
	return l.fl.ext.Negotiate(opt)
}

// negotiator is the upgrader's Negotiate, or nil when compression is off.
func (l *loop) negotiator() func(httphead.Option) (httphead.Option, error) {
	if l.s.cfg.NoCompression {
		return nil
	}
	return l.negotiate
}

// deflated records on c what the handshake just negotiated.
func (l *loop) deflated(c *conn) {
	_, on := l.fl.ext.Accepted()
	if on {
		l.fl.stats.negotiated.Add(1)
	}
	c.r.SetDeflate(on)
	c.zout = on && l.fl.zout
	l.fl.ext.Reset()
	l.fl.zout = false
}

// inflate decompresses the compressed message m in place of its payload,
// into the loop's buffer: valid until the next inflate.
func (c *conn) inflate(m *frame.Message) error {
	l := c.l
	if l.fl.infl == nil {
		l.fl.infl = frame.NewInflater()
	}
	p, err := l.fl.infl.Inflate(m.Op, m.Payload, l.s.cfg.MaxMessage)
	if err != nil {
		return err
	}
	m.Payload, m.Compressed = p, false
	l.fl.stats.inflated.Add(1)
	return nil
}

// deflater is the loop's compressor, made on first use.
func (l *loop) deflater() *frame.Deflater {
	if l.fl.defl == nil {
		l.fl.defl = frame.NewDeflater(deflateLevel)
	}
	return l.fl.defl
}

// appendFrame appends the frame of a message of c's own (an echo, a reply):
// compressed when c negotiated it, the message is data and not under the
// threshold, and compressing makes it smaller; plain otherwise.
func (c *conn) appendFrame(dst []byte, op ws.OpCode, p []byte) []byte {
	if c.zout && op.IsData() && len(p) >= c.l.s.cfg.CompressionThreshold {
		c.l.fl.stats.deflated.Add(1)
		if out, ok := c.l.deflater().AppendFrame(dst, op, p); ok {
			return out
		}
	}
	return frame.AppendFrame(dst, op, p)
}

// shared is a fan-out frame that may go compressed: its plain form and,
// made at most once and only when a receiver wants it, its compressed
// form. Every loop reads it; the first to need the compressed form makes
// it (with its own compressor) while the others wait on once.
type shared struct {
	plain []byte
	once  sync.Once
	z     []byte // the compressed frame; nil when it would not be smaller
}

// share wraps f, a fan-out frame, for compression, or returns nil when
// compression is off or the payload is under the threshold. prev, the
// share of the previous loop's job, is reused when it wraps the same frame.
func (s *Engine) share(f []byte, prev *shared) *shared {
	if s.cfg.NoCompression || len(f) == 0 {
		return nil
	}
	if prev != nil && len(prev.plain) == len(f) && &prev.plain[0] == &f[0] {
		return prev
	}
	h, hn, err := frame.ParseHeader(f)
	if err != nil || hn == 0 || !h.Fin || !h.OpCode.IsData() || h.Rsv != 0 || h.Length < int64(s.cfg.CompressionThreshold) {
		return nil
	}
	return &shared{plain: f}
}

// deflated is the compressed form of z's frame, made by loop l if no loop
// has made it yet; nil when compressing does not make it smaller.
func (z *shared) deflated(l *loop) []byte {
	z.once.Do(func() {
		l.fl.stats.deflated.Add(1)
		h, hn, _ := frame.ParseHeader(z.plain)
		if out, ok := l.deflater().AppendFrame(nil, h.OpCode, z.plain[hn:]); ok {
			z.z = out
		}
	})
	return z.z
}

// compressed maps frames, about to be written to c, to what c gets: the
// compressed form of each frame of the current fan-out run that has one.
// Other frames (replayed history, frames under the threshold) stay plain.
func (c *conn) compressed(frames [][]byte) [][]byte {
	l := c.l
	out := l.fl.ziov[:0]
	for _, f := range frames {
		g := f
		for _, z := range l.fl.run {
			if len(z.plain) == len(f) && len(f) > 0 && &z.plain[0] == &f[0] {
				if zf := z.deflated(l); zf != nil {
					g = zf
				}
				break
			}
		}
		out = append(out, g)
	}
	l.fl.ziov = out
	return out
}

// setRun makes jobs the fan-out run whose frames receivers may get
// compressed (compressed), until the next setRun.
func (l *loop) setRun(jobs []job) {
	clear(l.fl.run)
	clear(l.fl.ziov)
	l.fl.run = l.fl.run[:0]
	for _, j := range jobs {
		if j.z != nil {
			l.fl.run = append(l.fl.run, j.z)
		}
	}
}

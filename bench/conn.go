package bench

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"

	"github.com/wspush/wspush/frame"
)

// Connection states.
const (
	stateOpen    uint8 = iota // upgraded
	stateClosing              // our close frame is sent; waiting for the server's
	stateClosed               // gnet closed it (OnClose ran)
)

// maxInbound caps one inbound message, so that a broken server cannot make
// the bench buffer without bound.
const maxInbound = 32 << 20

// conn is one upgraded client connection, kept in its gnet.Conn's context.
// Only its event loop touches it after the upgrade, except gc and id, which
// never change.
type conn struct {
	gc      gnet.Conn
	h       *handler
	id      int
	state   uint8
	sentAt  int64     // echo: nanoseconds since h.base of the message in flight; 0 when none
	pending []byte    // bytes read past the upgrade response, not yet parsed
	frag    []byte    // a fragmented message being assembled; nil between messages
	fragOp  ws.OpCode // opcode of the first fragment
	fragZ   bool      // the fragmented message is compressed
	fragN   int       // its frames' bytes on the wire
	deflate bool      // permessage-deflate was negotiated (--compression)
	seen    []int64   // push: the sequence numbers that arrived, to tell a duplicate
}

// consume handles the complete frames at the start of p and returns how many
// bytes they took. Payload bytes are only read, never kept, so p may alias
// gnet's buffers.
func (c *conn) consume(p []byte) (int, gnet.Action) {
	used := 0
	for c.state != stateClosed {
		h, hn, err := frame.ParseHeader(p[used:])
		if err != nil {
			return used, c.protocolError()
		}
		if hn == 0 {
			return used, gnet.None
		}
		s := ws.StateClientSide
		if c.frag != nil {
			s = s.Set(ws.StateFragmented)
		}
		// RFC 7692 6: RSV1 marks the first frame of a compressed message.
		z := false
		if c.deflate && h.Rsv&0x4 != 0 {
			if h.OpCode.IsControl() || h.OpCode == ws.OpContinuation {
				return used, c.protocolError()
			}
			z, h.Rsv = true, h.Rsv&^0x4
		}
		// RFC 6455 5.1: a client closes the connection on a masked server frame.
		if err := ws.CheckHeader(h, s); err != nil || h.Length > maxInbound {
			return used, c.protocolError()
		}
		n := hn + int(h.Length)
		if len(p)-used < n {
			return used, gnet.None
		}
		act := c.frame(h, p[used+hn:used+n], z, n)
		used += n
		if act != gnet.None {
			return used, act
		}
	}
	return used, gnet.None
}

// frame handles one frame whose payload is p, compressed if z, n bytes on
// the wire.
func (c *conn) frame(h ws.Header, p []byte, z bool, n int) gnet.Action {
	switch h.OpCode {
	case ws.OpPing:
		// RFC 6455 5.5.2: answer a ping with a pong carrying its payload.
		c.write(ws.OpPong, p)
		return gnet.None
	case ws.OpPong:
		return gnet.None
	case ws.OpClose:
		return c.peerClose(p)
	}
	if h.Fin && h.OpCode != ws.OpContinuation {
		return c.deliver(h.OpCode, p, z, n)
	}
	if h.OpCode != ws.OpContinuation {
		c.fragOp, c.fragZ, c.fragN = h.OpCode, z, 0
		c.frag = make([]byte, 0, len(p)*2)
	}
	if len(c.frag)+len(p) > maxInbound {
		return c.protocolError()
	}
	c.frag = append(c.frag, p...)
	c.fragN += n
	if h.Fin {
		act := c.deliver(c.fragOp, c.frag, c.fragZ, c.fragN)
		c.frag = nil
		return act
	}
	return gnet.None
}

// deliver hands one data message to the handler, inflated first if z.
func (c *conn) deliver(op ws.OpCode, p []byte, z bool, wire int) gnet.Action {
	if z {
		f := c.h.inflaters.Get().(*frame.Inflater)
		defer c.h.inflaters.Put(f)
		var err error
		if p, err = f.Inflate(op, p, maxInbound); err != nil {
			return c.protocolError()
		}
		c.h.compressedIn.Add(1)
	}
	c.h.message(c, p, wire)
	return gnet.None
}

// peerClose answers a close frame. After our own close frame it only ends
// the connection; a close the server starts is a dropped connection unless
// the run is closing anyway.
func (c *conn) peerClose(p []byte) gnet.Action {
	if c.state == stateClosing {
		return gnet.Close
	}
	c.state = stateClosing
	code := ws.StatusNormalClosure
	if len(p) >= 2 {
		code = ws.StatusCode(binary.BigEndian.Uint16(p))
	}
	if !c.h.stopping.Load() {
		c.h.fail("server_close_" + strconv.Itoa(int(code)))
		c.h.dropped.Add(1)
	}
	// RFC 6455 5.5.1: a close is answered with a close, echoing its code.
	if len(p) >= 2 && frame.ValidCloseCode(code) {
		c.write(ws.OpClose, p[:2])
	} else {
		c.write(ws.OpClose, nil)
	}
	return gnet.Close
}

func (c *conn) protocolError() gnet.Action {
	c.h.fail("protocol")
	if c.state == stateOpen {
		c.state = stateClosing
		c.h.dropped.Add(1)
		var b [4]byte
		binary.BigEndian.PutUint16(b[:], uint16(ws.StatusProtocolError))
		c.write(ws.OpClose, b[:2])
	}
	return gnet.Close
}

// write sends one masked frame. RFC 6455 5.3: every client frame is masked
// with a fresh key. It runs on c's event loop; gnet copies what the socket
// does not take at once, so the scratch buffer is reused at once.
func (c *conn) write(op ws.OpCode, p []byte) {
	mask := [4]byte{}
	binary.LittleEndian.PutUint32(mask[:], rand.Uint32())
	b := c.h.scratch.Get().(*[]byte)
	buf := frame.AppendHeader((*b)[:0], ws.Header{Fin: true, OpCode: op, Masked: true, Mask: mask, Length: int64(len(p))})
	hn := len(buf)
	buf = append(buf, p...)
	ws.Cipher(buf[hn:], mask, 0)
	_, _ = c.gc.Write(buf)
	*b = buf
	c.h.scratch.Put(b)
}

// sendEcho sends the next echo message and notes when.
func (c *conn) sendEcho() {
	c.sentAt = max(int64(time.Since(c.h.base)), 1)
	c.h.sent.Add(1)
	c.write(c.h.echoOp, c.h.echoBody)
}

// Markers of the bench payload in a push or broadcast. The server may
// re-encode the data (and sort its keys), so each field is looked up on its
// own after the "bench" key.
var (
	markBench = []byte(`"bench":{`)
	markSeq   = []byte(`"seq":`)
	markT     = []byte(`"t_us":`)
)

// parseStamp finds the bench payload {"bench":{"seq":N,"t_us":T}} in a
// JSON message without decoding it. ok is false for any other message, such
// as the welcome.
func parseStamp(msg []byte) (seq int64, tus int64, ok bool) {
	i := bytes.Index(msg, markBench)
	if i < 0 {
		return 0, 0, false
	}
	obj := msg[i+len(markBench):]
	if j := bytes.IndexByte(obj, '}'); j >= 0 {
		obj = obj[:j]
	}
	seq, ok1 := numberAfter(obj, markSeq)
	tus, ok2 := numberAfter(obj, markT)
	return seq, tus, ok1 && ok2
}

// numberAfter parses the JSON number that follows key in p. A number that
// went through a float64 (1.7e+15) is accepted too.
func numberAfter(p, key []byte) (int64, bool) {
	i := bytes.Index(p, key)
	if i < 0 {
		return 0, false
	}
	p = bytes.TrimLeft(p[i+len(key):], " ")
	end := 0
	for end < len(p) && (p[end] >= '0' && p[end] <= '9' || bytes.IndexByte([]byte("-+.eE"), p[end]) >= 0) {
		end++
	}
	if n, err := strconv.ParseInt(string(p[:end]), 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(string(p[:end]), 64)
	if err != nil {
		return 0, false
	}
	return int64(f), true
}

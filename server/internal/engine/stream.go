package engine

import (
	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"
)

// stream takes in what has arrived of a text frame whose payload is still
// coming (frame.Reader.Stream): the bytes move from gnet's buffer into the
// message's, where they are unmasked and validated, and gnet forgets them.
// Moving them is what makes this sound: gnet's Peek may hand back a copy
// when its ring buffer wraps, so nothing unmasked in place there survives
// to the next read. It reports whether the caller should go on reading.
func (c *conn) stream(avail int) (gnet.Action, bool) {
	k := int(min(int64(avail), c.r.Left()))
	p, err := c.gc.Peek(k)
	if err != nil {
		return gnet.Close, false
	}
	m, err := c.r.More(p)
	_, _ = c.gc.Discard(k)
	c.l.bytesIn.Add(int64(k))
	if err != nil {
		act := c.fail(err, ws.Header{OpCode: ws.OpText}, c.r.Left())
		return act, c.readOn(act)
	}
	act := c.message(m)
	if c.state == stateClosed {
		return gnet.None, false
	}
	c.r.Release()
	return act, act == gnet.None
}

package engine

// A connection that falls behind (docs/design.md#slow-consumers).
//
// What the socket does not take at once goes to gnet's outbound buffer,
// which gnet writes out as the socket drains. gnet can only append to that
// buffer, never take anything back, so everything in it will be written
// before whatever comes next. A slow reader that passes --max-pending is
// disconnected with a reason, and that reason must not wait behind the
// very backlog that made the reader slow: it would be thrown away with it
// when CloseTimeout drops the socket, and the client would never learn
// why it was cut.
//
// So gnet gets a share of a lagging connection's backlog (lagShare) and
// the rest waits here, as whole frames: the lag. The lag moves on to gnet
// whenever gnet's part falls under its share: at the connection's next
// write, and at every tick while it has a lag. A disconnect drops the lag
// (counted: wspush_lag_dropped_total) and puts its disconnect message and
// close frame right behind gnet's share, so that the client reads its
// reason after at most the kernel's send queue, gnet's share and the
// frame in flight. --max-pending counts the three and the lag.

// lagShare is how much of a lagging connection's backlog gnet holds: past
// it, frames wait in the lag. A reader that keeps up never gets near it;
// one that falls behind has its backlog moved on as gnet drains it, at
// each of its writes and each tick, so a lagging reader still gets at
// least a socket buffer and a share every 100 ms.
const lagShare = 16 << 10

// lag is the part of a connection's backlog gnet does not hold yet: whole
// frames, oldest first. Only the connection's loop touches it. A conn's
// lag, once made, stays (empty or not) until the loop's next tick, which
// lets go of it when empty: the loop's list of lagging connections names
// each conn once.
type lag struct {
	buf  []byte
	off  int   // buf[:off] has gone on to gnet
	ends []int // where each frame (or write of frames) ends in buf, ascending
}

// lagBytes is how many bytes c keeps in its lag.
func (c *conn) lagBytes() int {
	if c.lag == nil {
		return 0
	}
	return len(c.lag.buf) - c.lag.off
}

// keep appends frames, whole, to c's lag, making one if c has none.
func (c *conn) keep(frames ...[]byte) {
	g := c.lag
	if g == nil {
		g = &lag{}
		c.lag = g
		c.l.lagging = append(c.l.lagging, c)
		c.l.lagConns.Add(1)
	}
	n := 0
	for _, f := range frames {
		g.buf = append(g.buf, f...)
		g.ends = append(g.ends, len(g.buf))
		n += len(f)
	}
	c.l.lagBytes.Add(int64(n))
}

// moveLag hands gnet as much of c's lag as its share allows, first
// straight to the socket when gnet holds nothing. A write error closes c
// inside gnet's Write (OnClose runs and drops the lag): nothing of g is
// touched after a write that closed c.
func (c *conn) moveLag() {
	g := c.lag
	if g == nil || g.off == len(g.buf) {
		return
	}
	if c.state == stateClosed {
		c.dropLag()
		return
	}
	// hand gives gnet g.buf[g.off:to] and reports whether c is still open.
	hand := func(to int) bool {
		b := g.buf[g.off:to]
		c.l.lagBytes.Add(-int64(to - g.off))
		g.off = to
		c.backlog = true
		_, _ = c.gc.Write(b)
		return c.state != stateClosed
	}
	k := 0 // g.ends[:k] have gone on
	for k < len(g.ends) && g.ends[k] <= g.off {
		k++
	}
	if c.buffered() == 0 {
		n := sendNow(c.fd(), g.buf[g.off:])
		c.l.lagBytes.Add(-int64(n))
		g.off += n
		for k < len(g.ends) && g.ends[k] <= g.off {
			k++
		}
		if k < len(g.ends) && (k == 0 && g.off > 0 || k > 0 && g.off > g.ends[k-1]) {
			// The rest of a frame the socket took the start of: gnet
			// must have it before anything else is written.
			if !hand(g.ends[k]) {
				return
			}
			k++
		}
	}
	if room := lagShare - c.buffered(); k < len(g.ends) && room > 0 {
		end := k + 1 // at least one frame, however big
		for end < len(g.ends) && g.ends[end]-g.off <= room {
			end++
		}
		if !hand(g.ends[end-1]) {
			return
		}
	}
	switch {
	case g.off == len(g.buf):
		g.buf, g.ends, g.off = g.buf[:0], g.ends[:0], 0
	case g.off > len(g.buf)/2:
		// Forget what has gone on, so that a lag that never empties
		// does not grow without end.
		n := copy(g.buf, g.buf[g.off:])
		g.buf = g.buf[:n]
		j := 0
		for _, e := range g.ends {
			if e > g.off {
				g.ends[j] = e - g.off
				j++
			}
		}
		g.ends, g.off = g.ends[:j], 0
	}
}

// dropLag throws away what c's lag holds, counting its frames as dropped.
func (c *conn) dropLag() {
	g := c.lag
	if g == nil || g.off == len(g.buf) {
		return
	}
	n := 0
	for _, e := range g.ends {
		if e > g.off {
			n++
		}
	}
	c.l.s.lagDropped.Add(int64(n))
	c.l.lagBytes.Add(-int64(len(g.buf) - g.off))
	g.buf, g.ends, g.off = g.buf[:0], g.ends[:0], 0
}

// moveLags moves on the lags of the loop's lagging connections, at each
// tick, and lets go of the lags that are empty, and of closed conns.
func (l *loop) moveLags() {
	kept := l.lagging[:0]
	for _, c := range l.lagging {
		c.moveLag()
		if c.lagBytes() > 0 {
			kept = append(kept, c)
		} else {
			c.lag = nil
			l.lagConns.Add(-1)
		}
	}
	clear(l.lagging[len(kept):])
	l.lagging = kept
}

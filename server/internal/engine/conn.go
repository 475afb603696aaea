package engine

import (
	"errors"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"

	"github.com/wspush/wspush/frame"
	"github.com/wspush/wspush/pool"
	"github.com/wspush/wspush/server/internal/auth"
	"github.com/wspush/wspush/server/internal/wire"
)

// Connection states.
const (
	stateHandshake uint8 = iota // waiting for a complete upgrade request
	stateOpen                   // upgraded, exchanging messages
	stateClosing                // our close frame is sent; waiting for the peer's
	stateClosed                 // gnet has closed it (OnClose ran)
	stateAdmitting              // upgraded, waiting for the connect hook's verdict (admit.go)
)

var errClosed = errors.New("engine: connection closed")

// conn is the per-connection state, kept in the gnet.Conn's context. It
// holds no buffer while the connection is idle: partial frames wait in
// gnet's inbound buffer, and the frame.Reader gives back its assembly buffer
// after each message. Only the conn's event loop touches it.
type conn struct {
	gc   gnet.Conn
	l    *loop
	prev *conn // timing wheel links
	next *conn
	sess *session // the client protocol's state; nil in echo mode

	r      frame.Reader
	skip   int64  // bytes of a frame still to discard while closing
	at     uint32 // the wheel tick this conn is filed under
	seen   uint32 // tick of the last inbound bytes, or of entering the state
	state  uint8
	queued bool // in the wheel
	reason wire.CloseReason
	// backlog: gnet may hold bytes of ours not yet written (a write went
	// through gnet). While it is false, nothing is queued, and a write
	// need not look at gnet's conn at all.
	backlog bool
	zout    bool // we may send it compressed messages (deflate.go)
	lag     *lag // frames waiting beyond gnet's share (lag.go); nil for most
}

// fd is c's socket, for sendNow while c is not closed. gnet keeps it; a
// copy here would take conn past the 96-byte size class (size_test.go).
func (c *conn) fd() int { return c.gc.Fd() }

// session is what the client protocol adds to an upgraded connection. It
// is allocated at the upgrade, and not at all in echo mode, so that a bare
// WebSocket connection stays small.
type session struct {
	m     pool.Member // the pool entry; m.Conn is the conn; m.Live() while in the pool
	perms *auth.Perms // what the token allows; nil allows all (development mode)
	exp   uint32      // tick at which the token expires; 0: never
	rate  rateLimiter
	// resuming: the loop holds a resume state for the session (resume),
	// set while and after the connection resumes; false for most.
	resuming bool
}

// resume returns ss's resume state, nil unless ss.resuming. The state
// lives in a map of its loop rather than in the session: few connections
// ever resume, and a pointer in every session would have taken it past
// the 112-byte size class. It runs on the loop.
func (ss *session) resume(l *loop) *resumeState {
	if !ss.resuming {
		return nil
	}
	return l.resumes[ss]
}

// setResume sets ss's resume state; nil drops it. It runs on the loop.
func (ss *session) setResume(l *loop, rs *resumeState) {
	if rs == nil {
		if ss.resuming {
			delete(l.resumes, ss)
			ss.resuming = false
		}
		return
	}
	if l.resumes == nil {
		l.resumes = make(map[*session]*resumeState)
	}
	l.resumes[ss] = rs
	ss.resuming = true
}

// traffic handles the bytes gnet has buffered for c. It runs on c's loop.
func (c *conn) traffic() gnet.Action {
	if c.state == stateOpen {
		c.seen = c.l.now
	}
	if c.state == stateHandshake {
		if act, done := c.l.upgrade(c); !done {
			return act
		}
	}
	if c.state == stateAdmitting {
		// Frames sent before the welcome wait in gnet's buffer for the
		// verdict (admitted), up to about one message.
		if c.gc.InboundBuffered() > c.l.s.cfg.MaxMessage+ws.MaxHeaderSize {
			c.reason = wire.ReasonTooLarge
			return gnet.Close
		}
		return gnet.None
	}
	for c.state == stateOpen || c.state == stateClosing {
		avail := c.gc.InboundBuffered()
		if avail == 0 {
			return gnet.None
		}
		if c.skip > 0 {
			n := int(min(c.skip, int64(avail)))
			_, _ = c.gc.Discard(n)
			c.skip -= int64(n)
			continue
		}
		if c.r.Left() > 0 {
			if act, more := c.stream(avail); !more {
				return act
			}
			continue
		}
		hb, _ := c.gc.Peek(min(avail, ws.MaxHeaderSize))
		h, hn, err := frame.ParseHeader(hb)
		if err != nil {
			return c.fail(err, h, 0)
		}
		if hn == 0 {
			return gnet.None
		}
		if c.state == stateClosing {
			if act, more := c.closingFrame(h, hn, avail); !more {
				return act
			}
			continue
		}
		if err := c.r.Check(h, int64(c.l.s.cfg.MaxMessage)); err != nil {
			if act := c.fail(err, h, int64(hn)+h.Length); !c.readOn(act) {
				return act
			}
			continue
		}
		n := hn + int(h.Length)
		if avail < n {
			if avail > hn && c.r.Stream(h) {
				// A text frame: taken in as it arrives (stream.go).
				_, _ = c.gc.Discard(hn)
				c.l.bytesIn.Add(int64(hn))
				if c.sess != nil && c.r.Fragments() > maxFragments {
					if act := c.fail(frame.ErrTooManyFragments, h, h.Length); !c.readOn(act) {
						return act
					}
				}
				continue
			}
			return gnet.None // the payload is still coming: gnet keeps the bytes
		}
		p, err := c.gc.Peek(n)
		if err != nil {
			return gnet.Close
		}
		m, err := c.r.Frame(h, p[hn:])
		if err == nil && c.sess != nil && c.r.Fragments() > maxFragments {
			err = frame.ErrTooManyFragments
		}
		if err != nil {
			if act := c.fail(err, h, int64(n)); !c.readOn(act) {
				return act
			}
			continue
		}
		act := c.message(m)
		if c.state == stateClosed {
			return gnet.None
		}
		_, _ = c.gc.Discard(n)
		c.l.bytesIn.Add(int64(n))
		c.r.Release()
		if act != gnet.None {
			return act
		}
	}
	return gnet.None
}

// maxFragments caps the frames of one message in protocol mode: a message
// fits in --max-message, and no client needs more pieces than this for it.
// Echo mode, for conformance, takes any number.
const maxFragments = 128

// message handles one complete message or control frame.
func (c *conn) message(m frame.Message) gnet.Action {
	// In protocol mode every frame counts against --max-rate: pings and
	// fragments as much as whole messages (the data messages below).
	if m.Op.IsControl() && m.Op != ws.OpClose || m.Op == ws.OpContinuation {
		if c.sess != nil && !c.sess.rate.allow(c.l.now, c.l.s.cfg.MaxRate) {
			c.disconnect(wire.DisconnectRateLimited, "")
			return gnet.None
		}
	}
	switch m.Op {
	case ws.OpContinuation:
		return gnet.None
	case ws.OpPing:
		c.send(ws.OpPong, m.Payload)
	case ws.OpPong:
	case ws.OpClose:
		// RFC 6455 5.5.1: answer a close with a close, echoing the status
		// code; RFC 6455 7.1.1: then the server drops TCP first.
		c.reason = wire.ReasonPeerClose
		if m.Code == ws.StatusNoStatusRcvd {
			c.write(frame.Close)
		} else {
			c.l.out = frame.AppendClose(c.l.out[:0], m.Code, "")
			c.write(c.l.out)
		}
		return c.closeWhenSent()
	default:
		if m.Compressed {
			if err := c.inflate(&m); err != nil {
				return c.fail(err, ws.Header{OpCode: m.Op}, 0)
			}
			defer c.l.fl.infl.Release()
		}
		c.l.msgsIn.Add(1)
		switch {
		case c.l.s.cfg.Echo:
			c.send(m.Op, m.Payload)
		case !c.sess.rate.allow(c.l.now, c.l.s.cfg.MaxRate):
			c.disconnect(wire.DisconnectRateLimited, "")
			return gnet.None
		case m.Op == ws.OpText:
			c.request(m.Payload)
		default: // binary: opaque to the protocol, for the backend
			c.l.s.hooks.Binary(c.id(), m.Payload)
		}
	}
	if c.state == stateOpen && c.pending() > c.l.s.cfg.MaxPending {
		c.disconnect(wire.DisconnectSlow, "")
	}
	return gnet.None
}

// closingFrame handles a frame that arrives after our close frame went out:
// data is skipped unread, the peer's close ends the connection. It reports
// whether the caller should go on reading.
func (c *conn) closingFrame(h ws.Header, hn, avail int) (gnet.Action, bool) {
	if h.OpCode == ws.OpClose {
		return gnet.Close, false
	}
	n := int64(hn) + h.Length
	if h.OpCode.IsControl() && int64(avail) < n {
		return gnet.None, false
	}
	c.skip = n
	return gnet.None, true
}

// Send writes one encoded frame that is shared with other connections: a
// push, a room message, a broadcast. It implements pool.Conn and runs on
// c's loop.
func (c *conn) Send(b []byte) error {
	c.l.iov1[0] = b
	return c.sendv(c.l.iov1[:])
}

// sendv writes shared frames to c in one call. A peer whose outbound queue
// passes MaxPending is disconnected as too slow, and gets nothing more.
func (c *conn) sendv(frames [][]byte) error {
	if c.state != stateOpen {
		return errClosed
	}
	if c.zout && len(c.l.fl.run) > 0 {
		frames = c.compressed(frames)
	}
	if len(frames) == 1 {
		c.write(frames[0])
	} else {
		c.writev(frames)
	}
	if c.state != stateOpen {
		return errClosed
	}
	c.l.msgsOut.Add(int64(len(frames)))
	if c.pending() > c.l.s.cfg.MaxPending {
		c.disconnect(wire.DisconnectSlow, "")
	}
	return nil
}

// send encodes and writes one frame with payload p.
func (c *conn) send(op ws.OpCode, p []byte) {
	c.l.out = c.appendFrame(c.l.out[:0], op, p)
	c.write(c.l.out)
}

// write writes b to the peer in one call. What the socket does not take at
// once is copied into gnet's outbound buffer for the loop to write later,
// so b may be reused as soon as write returns. A write error closes the
// conn inside the call (OnClose runs), after which c.state is stateClosed;
// a write to a closed conn writes nothing.
//
// The first attempt is sendNow's raw send(2) when nothing is queued ahead
// of b; gnet's Write takes the rest, and meets again any error the send
// met, which it handles as its own.
//
// Behind a lag, or past gnet's share of the backlog, b waits in the lag
// instead (lag.go).
func (c *conn) write(b []byte) { c.put(b, true) }

// writeAhead is write for a disconnect, after dropLag: b goes right
// behind what gnet holds, whatever its share.
func (c *conn) writeAhead(b []byte) { c.put(b, false) }

func (c *conn) put(b []byte, mayLag bool) {
	if c.state == stateClosed {
		// gnet has closed the socket, and its Write would write to the
		// descriptor number, which a new connection may hold by now.
		return
	}
	c.l.bytesOut.Add(int64(len(b)))
	if c.behind() {
		c.keep(b)
		return
	}
	if c.state == stateClosed {
		return // moving the lag on met a write error
	}
	switch n := c.buffered(); {
	case n == 0:
		sent := sendNow(c.fd(), b)
		if sent == len(b) {
			return
		}
		b = b[sent:]
	case mayLag && n >= lagShare:
		c.keep(b)
		return
	}
	c.backlog = true
	_, _ = c.gc.Write(b)
}

// behind reports whether c's lag still holds frames after moving on what
// it can: what c writes next must wait behind them.
func (c *conn) behind() bool {
	if c.lag == nil {
		return false
	}
	c.moveLag()
	return c.lagBytes() > 0 && c.state != stateClosed
}

// buffered is how many bytes gnet holds for c, not yet written.
func (c *conn) buffered() int {
	if !c.backlog {
		return 0
	}
	n := c.gc.OutboundBuffered()
	if n == 0 {
		c.backlog = false
	}
	return n
}

// pending is what c has written that its peer has not taken: its lag,
// gnet's buffer and, once those hold anything (the socket is full), the
// kernel's send queue too, so that --max-pending bounds all three. With
// the kernel's autotuning a socket alone absorbs up to tcp_wmem's 4 MiB,
// which let a slow reader hold five times --max-pending's default unseen.
func (c *conn) pending() int {
	n := c.buffered() + c.lagBytes()
	if n == 0 {
		return 0
	}
	return n + unsentInKernel(c.fd())
}

// writev is write for several frames, sent with one system call.
func (c *conn) writev(frames [][]byte) {
	if c.state == stateClosed {
		return // as put
	}
	total := 0
	for _, f := range frames {
		total += len(f)
	}
	c.l.bytesOut.Add(int64(total))
	if c.behind() {
		c.keep(frames...)
		return
	}
	if c.state == stateClosed {
		return // moving the lag on met a write error
	}
	if c.buffered() >= lagShare {
		c.keep(frames...)
		return
	}
	if c.buffered() == 0 {
		var n int
		n, c.l.siov = sendvNow(c.fd(), frames, c.l.siov)
		if n == total {
			return
		}
		// gnet takes what is left, without frames being touched: the
		// caller shares them between receivers.
		rest := c.l.rest[:0]
		for _, f := range frames {
			if n >= len(f) {
				n -= len(f)
				continue
			}
			rest = append(rest, f[n:])
			n = 0
		}
		c.l.rest, frames = rest, rest
	}
	c.backlog = true
	_, _ = c.gc.Writev(frames)
	clear(c.l.rest)
	c.l.rest = c.l.rest[:0]
}

// fail fails the connection for a protocol violation in the frame with
// header h: it sends the close frame that err calls for and waits, bounded,
// for the peer's close. skip is the size of the offending frame, which is
// discarded unread.
func (c *conn) fail(err error, h ws.Header, skip int64) gnet.Action {
	d := wire.DisconnectFor(frame.CloseCode(err))
	switch {
	case errors.Is(err, ws.ErrHeaderLengthMSB) || c.state != stateOpen:
		// The stream cannot be followed any further.
		if c.reason == wire.ReasonNone {
			c.reason = wire.ReasonFor(d)
		}
		return gnet.Close
	case h.OpCode == ws.OpClose:
		// The peer has sent its close, bad as it is: answer it and drop
		// TCP, there is nothing more to wait for.
		c.disconnect(d, err.Error())
		return gnet.Close
	}
	c.disconnect(d, err.Error())
	if c.state == stateClosed {
		return gnet.None
	}
	c.skip = skip
	return gnet.None
}

// disconnect starts a server-initiated close: in protocol mode it sends the
// disconnect message, then the close frame, and waits for the peer's close
// until CloseTimeout. detail, if set, replaces the table's reason.
func (c *conn) disconnect(d wire.Disconnect, detail string) {
	if c.state != stateOpen {
		return
	}
	c.reason = wire.ReasonFor(d)
	c.state = stateClosing
	c.skip = c.r.Left() // the rest of a frame half taken in (stream.go)
	c.r.Reset()
	c.seen = c.l.now
	c.leavePool()
	c.l.wheel.move(c, c.l.now+ticks(c.l.s.cfg.CloseTimeout))
	c.l.out = wire.AppendDisconnect(c.l.out[:0], d, detail, !c.l.s.cfg.Echo, c.l.s.retryAfter(d))
	// What waits in the lag goes: the reason goes right behind what gnet
	// and the kernel hold, where the client will read it (lag.go).
	c.dropLag()
	c.writeAhead(c.l.out)
}

// leavePool takes c out of the pool, so that no push reaches it any more.
func (c *conn) leavePool() {
	if c.sess != nil && c.sess.m.Live() {
		s := c.l.s
		s.hooks.Leaving(c.sess.m.User)
		s.pool.Rooms(&c.sess.m, func(room string) { s.parted(&c.sess.m, room) })
		s.pool.Remove(&c.sess.m)
		s.hooks.Left(c.sess.m.User, s.pool.UserConns(c.sess.m.User) == 0)
	}
}

// id names c to the hooks. Only for protocol-mode connections.
func (c *conn) id() Conn { return Conn{ID: c.sess.m.ID(), User: c.sess.m.User} }

// rateLimiter is a token bucket of client requests: it holds two seconds'
// worth and refills with the tick. The zero value is empty; reset fills it.
type rateLimiter struct {
	tokens float32
	last   uint32
}

func (r *rateLimiter) reset(now uint32, rate int) {
	r.tokens, r.last = float32(2*rate), now
}

// allow takes one token if there is one. rate is requests per second; zero
// allows everything.
func (r *rateLimiter) allow(now uint32, rate int) bool {
	if rate <= 0 {
		return true
	}
	if now != r.last {
		refill := float32(now-r.last) * float32(rate) * float32(tick.Seconds())
		r.tokens = min(float32(2*rate), r.tokens+refill)
		r.last = now
	}
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}

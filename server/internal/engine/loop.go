package engine

import (
	"bytes"
	"context"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"

	"github.com/wspush/wspush/frame"
	"github.com/wspush/wspush/server/internal/wire"
)

// loop is the state one gnet event loop owns: its timing wheel and the
// scratch buffers its callbacks reuse. Only that loop's goroutine touches
// it, except s and el, which are fixed.
type loop struct {
	s   *Engine
	el  gnet.EventLoop
	idx int // the loop's pool shard

	// Counters read by other goroutines (metrics, stats).
	msgsIn   atomic.Int64 // data messages received
	msgsOut  atomic.Int64 // pushes written (Send)
	bytesIn  atomic.Int64 // frame bytes read after the upgrade
	bytesOut atomic.Int64 // bytes written, frames and handshakes
	queued   atomic.Int64 // jobs in box, as of the last post or drain
	drains   atomic.Int64 // drain runs, ever
	lagConns atomic.Int64 // conns with a lag: len(lagging)
	lagBytes atomic.Int64 // bytes their lags hold

	lagging []*conn                   // conns with a lag, each once (lag.go)
	resumes map[*session]*resumeState // sessions' resume states (session.resume)
	admits  map[*conn]*admission      // conns waiting for the connect hook (admit.go)

	now   uint32 // ticks since the server started, as of the loop's current callback
	wheel wheel
	tickf gnet.Runnable // the tick task, allocated once

	box      outbox        // fan-out jobs from other goroutines, in order
	budget   int           // receivers one drain serves before it yields: drainBudget
	drainf   gnet.Runnable // the task that drains box, allocated once
	spare    []job         // the drained job slice, reused
	iov      [][]byte      // frames of one coalesced run, reused
	iov1     [1][]byte     // one frame, for Send
	siov     []iovec       // the kernel's iovecs for one sendvNow, reused
	rest     [][]byte      // what one sendvNow left unsent, reused
	filtered [][]byte      // a run's frames a resuming conn still needs, reused

	fl loopFlate // permessage-deflate (deflate.go)

	out     []byte // frames being encoded, reused by every write
	scratch []byte // JSON being built, reused

	// Upgrade scratch: a loop upgrades one connection at a time, so the
	// upgrader's callbacks write into these.
	up  ws.Upgrader
	req bytes.Reader
	rsp bytes.Buffer
	hs  handshake
	hrw handshakeRW
}

func newLoop(s *Engine, el gnet.EventLoop, idx int) *loop {
	l := &loop{s: s, el: el, idx: idx, now: s.ticksNow(), budget: drainBudget}
	l.wheel.done = l.now
	l.wheel.next.Store(l.now + wheelSlots)
	l.tickf = gnet.RunnableFunc(func(context.Context) error {
		l.advance()
		return nil
	})
	l.drainf = gnet.RunnableFunc(func(context.Context) error {
		l.drain()
		return nil
	})
	l.up = l.upgrader()
	l.hrw = handshakeRW{req: &l.req, rsp: &l.rsp}
	return l
}

// advance runs the wheel up to the current tick. It runs on the loop.
func (l *loop) advance() {
	l.now = l.s.ticksNow()
	if len(l.lagging) > 0 {
		l.moveLags()
	}
	l.wheel.advance(l.now, l.fire)
}

// clock brings l.now up to date at the start of a callback on the loop.
// Ticks are posted only to loops with something due in their wheel, so
// l.now cannot wait for them: gnet's ticker keeps the server's count.
func (l *loop) clock() {
	l.now = max(l.now, l.s.tickNow.Load())
}

// fire acts on a conn whose deadline came round.
func (l *loop) fire(c *conn) {
	switch c.state {
	case stateHandshake:
		if l.now-c.seen < ticks(l.s.cfg.HandshakeTimeout) {
			l.wheel.add(c, c.seen+ticks(l.s.cfg.HandshakeTimeout))
			return
		}
		c.reason = wire.ReasonHandshakeTimeout
		_ = l.el.Close(c.gc)
	case stateAdmitting:
		l.admitTimeout(c)
	case stateOpen:
		silent := l.now - c.seen
		switch {
		case c.sess != nil && c.sess.exp != 0 && l.now >= c.sess.exp:
			c.disconnect(wire.DisconnectTokenExpired, "")
		case silent >= ticks(l.s.cfg.IdleTimeout):
			c.disconnect(wire.DisconnectIdle, "")
		default:
			if silent >= ticks(l.s.cfg.PingInterval) {
				c.write(frame.Ping)
			}
			if c.state == stateOpen {
				l.wheel.add(c, l.nextDeadline(c))
			}
		}
	case stateClosing:
		if c.reason == wire.ReasonPeerClose && c.buffered() == 0 && c.lagBytes() == 0 {
			_ = l.el.Close(c.gc) // our answer to the peer's close is written (closing.go)
			return
		}
		if c.reason == wire.ReasonPeerClose && l.now-c.seen < ticks(l.s.cfg.CloseTimeout) {
			l.wheel.add(c, l.now+1)
			return
		}
		if l.now-c.seen < ticks(l.s.cfg.CloseTimeout) {
			l.wheel.add(c, c.seen+ticks(l.s.cfg.CloseTimeout))
			return
		}
		if c.reason == wire.ReasonNone {
			c.reason = wire.ReasonCloseTimeout
		}
		_ = l.el.Close(c.gc)
	}
}

// nextDeadline is the tick at which an open conn must next be looked at:
// when it will have been silent for a ping interval (again), when it will
// be idle for too long, or when its token expires.
func (l *loop) nextDeadline(c *conn) uint32 {
	ping, idle := ticks(l.s.cfg.PingInterval), ticks(l.s.cfg.IdleTimeout)
	at := c.seen + ping
	if at <= l.now {
		at = l.now + ping
	}
	at = min(at, c.seen+idle)
	if c.sess != nil && c.sess.exp != 0 {
		at = min(at, c.sess.exp)
	}
	return at
}

// goAway starts the close handshake with every connection of the loop, for
// a server shutting down, and drops those still upgrading.
func (l *loop) goAway() {
	l.now = l.s.ticksNow()
	l.wheel.each(func(c *conn) {
		switch c.state {
		case stateHandshake:
			c.reason = wire.ReasonShutdown
			_ = l.el.Close(c.gc)
		case stateAdmitting:
			l.unadmit(c)
			c.state = stateOpen
			c.disconnect(wire.DisconnectGoingAway, "")
		case stateOpen:
			c.disconnect(wire.DisconnectGoingAway, "")
		}
	})
}

// ticksNow is the current tick count since the server started.
func (s *Engine) ticksNow() uint32 {
	return uint32(time.Since(s.start) / tick)
}

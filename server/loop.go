package server

import (
	"bytes"
	"context"
	"time"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"
)

// loop is the state one gnet event loop owns: its timing wheel and the
// scratch buffers its callbacks reuse. Only that loop's goroutine touches
// it, except s and el, which are fixed.
type loop struct {
	s  *Server
	el gnet.EventLoop

	now   uint32 // ticks since the server started, as of the last tick task
	wheel wheel
	tickf gnet.Runnable // the tick task, allocated once

	out []byte // frames being encoded, reused by every write

	// Upgrade scratch: a loop upgrades one connection at a time, so the
	// upgrader's callbacks write into these.
	up  ws.Upgrader
	req bytes.Reader
	rsp bytes.Buffer
	hs  handshake
	hrw handshakeRW
}

func newLoop(s *Server, el gnet.EventLoop) *loop {
	l := &loop{s: s, el: el, now: s.ticksNow()}
	l.wheel.done = l.now
	l.tickf = gnet.RunnableFunc(func(context.Context) error {
		l.advance()
		return nil
	})
	l.up = l.upgrader()
	l.hrw = handshakeRW{req: &l.req, rsp: &l.rsp}
	return l
}

// advance runs the wheel up to the current tick. It runs on the loop.
func (l *loop) advance() {
	l.now = l.s.ticksNow()
	l.wheel.advance(l.now, l.fire)
}

// fire acts on a conn whose deadline came round.
func (l *loop) fire(c *conn) {
	switch c.state {
	case stateHandshake:
		if l.now-c.seen < ticks(l.s.cfg.HandshakeTimeout) {
			l.wheel.add(c, c.seen+ticks(l.s.cfg.HandshakeTimeout))
			return
		}
		c.reason = ReasonHandshakeTimeout
		_ = l.el.Close(c.gc)
	case stateOpen:
		silent := l.now - c.seen
		ping, idle := ticks(l.s.cfg.PingInterval), ticks(l.s.cfg.IdleTimeout)
		switch {
		case silent >= idle:
			c.closeWith(ReasonIdleTimeout, ws.StatusGoingAway, "idle timeout")
		case silent >= ping:
			c.write(frameping)
			if c.state == stateOpen {
				l.wheel.add(c, min(l.now+ping, c.seen+idle))
			}
		default:
			l.wheel.add(c, c.seen+ping)
		}
	case stateClosing:
		if l.now-c.seen < ticks(l.s.cfg.CloseTimeout) {
			l.wheel.add(c, c.seen+ticks(l.s.cfg.CloseTimeout))
			return
		}
		if c.reason == ReasonNone {
			c.reason = ReasonCloseTimeout
		}
		_ = l.el.Close(c.gc)
	}
}

// goAway starts the close handshake with every connection of the loop, for
// a server shutting down, and drops those still upgrading.
func (l *loop) goAway() {
	l.now = l.s.ticksNow()
	l.wheel.each(func(c *conn) {
		switch c.state {
		case stateHandshake:
			c.reason = ReasonShutdown
			_ = l.el.Close(c.gc)
		case stateOpen:
			c.closeWith(ReasonShutdown, ws.StatusGoingAway, "server shutting down")
		}
	})
}

// ticksNow is the current tick count since the server started.
func (s *Server) ticksNow() uint32 {
	return uint32(time.Since(s.start) / tick)
}

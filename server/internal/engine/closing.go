package engine

import "github.com/panjf2000/gnet/v2"

// Two ways the close handshake could be lost under load, and what keeps
// them from happening (issue 15, Autobahn 6.22.19 once UNCLEAN on a loaded
// machine):
//
//   - Our answer to the peer's close queued behind bytes the socket did
//     not take. Returning gnet.Close then makes gnet write what it holds
//     once, best effort, and close the socket at the first EAGAIN: the
//     close frame, last in the queue, is dropped, and the peer times out
//     waiting for it. closeWhenSent closes only once gnet holds nothing;
//     until then the wheel looks every tick, for at most CloseTimeout.
//
//   - Frames that arrived in the same read as a frame that failed the
//     connection. gnet calls OnTraffic again only when new bytes come (it
//     is level-triggered on the socket, not on its own buffer), so bytes
//     left in its buffer when traffic returned waited there: typically the
//     peer's close, answered only when CloseTimeout dropped the connection.
//     traffic now reads on (readOn) while the connection is closing.

// closeWhenSent ends the connection after the peer's close has been
// answered: at once when the answer is on the wire, else once gnet has
// written everything it holds for the peer (loop.fire), so that the answer
// is not dropped.
func (c *conn) closeWhenSent() gnet.Action {
	if c.state == stateClosed {
		return gnet.None
	}
	if c.buffered() == 0 && c.lagBytes() == 0 {
		return gnet.Close
	}
	c.state = stateClosing
	c.skip = c.r.Left()
	c.r.Reset()
	c.seen = c.l.now
	c.leavePool()
	c.l.wheel.move(c, c.l.now+1)
	return gnet.None
}

// readOn reports whether traffic should go on reading after act: yes while
// the connection waits for the peer's close, whose frame may already be in
// gnet's buffer.
func (c *conn) readOn(act gnet.Action) bool {
	return act == gnet.None && c.state == stateClosing
}

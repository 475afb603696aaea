package engine

import (
	"encoding/json"
	"strconv"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/server/internal/auth"
)

// In-band token refresh (docs/protocol.md, "Refreshing the token"). A
// client whose token is about to expire sends
//
//	{"type":"refresh","token":"JWT","ref":1}
//
// on its open connection. The new token is checked like an upgrade's and
// must name the same user; the connection then takes its expiry and its
// permissions, and the answer is {"type":"ack","ref":1,"exp":MS} (no exp
// when the new token has none). A connection whose client keeps
// refreshing is never dropped for expiry.

// Error codes of a refused refresh, besides bad_request and forbidden.
const (
	codeUnauthorized = "unauthorized"
	codeTokenExpired = "token_expired"
)

// refresh handles a refresh request. In development mode there is no
// token to replace: the request is acknowledged and changes nothing.
func (c *conn) refresh(req request) {
	s, ss := c.l.s, c.sess
	if s.cfg.Auth.Secret == "" {
		c.replyRefreshed(req.Ref, 0)
		return
	}
	if req.Token == "" {
		c.reply(req.Ref, codeBadRequest, "token is required")
		return
	}
	id, err := s.cfg.Auth.VerifyToken(req.Token)
	switch {
	case auth.Expired(err):
		c.reply(req.Ref, codeTokenExpired, "the new token has expired")
		return
	case err != nil:
		c.reply(req.Ref, codeUnauthorized, err.Error())
		return
	case id.User != ss.m.User:
		c.reply(req.Ref, codeForbidden, "the token is for another user")
		return
	}
	ss.perms = id.Perms
	ss.exp = 0
	var ms int64
	if !id.Exp.IsZero() {
		ss.exp = max(s.ticksAt(id.Exp), 1)
		ms = id.Exp.UnixMilli()
	}
	// The conn may be filed under the old expiry, earlier or later than
	// the new one: file it again under its next deadline.
	c.l.wheel.move(c, c.l.nextDeadline(c))
	c.replyRefreshed(req.Ref, ms)
}

// replyRefreshed acknowledges a refresh, with the connection's new expiry
// in Unix milliseconds when it has one (exp > 0).
func (c *conn) replyRefreshed(ref json.RawMessage, exp int64) {
	if len(ref) == 0 {
		return
	}
	b := append(c.l.scratch[:0], `{"type":"ack","ref":`...)
	b = append(b, ref...)
	if exp > 0 {
		b = append(b, `,"exp":`...)
		b = strconv.AppendInt(b, exp, 10)
	}
	b = append(b, '}')
	c.l.scratch = b
	c.send(ws.OpText, b)
}

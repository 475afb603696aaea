package engine

import (
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/frame"
	"github.com/wspush/wspush/server/internal/auth"
	"github.com/wspush/wspush/server/internal/wire"
)

// The client protocol: JSON text messages, described in docs/protocol.md.

// request is a message from the client. Ref, when present, is echoed in the
// ack or error that answers it: a number or a string.
type request struct {
	Type string          `json:"type"`
	Room string          `json:"room"`
	To   string          `json:"to"`
	Data json.RawMessage `json:"data"`
	Ref  json.RawMessage `json:"ref"`
	// UserPos and Rooms are a resume's positions (resume.go).
	UserPos string            `json:"user_pos"`
	Rooms   map[string]string `json:"rooms"`
	// Token is a refresh's new token (refresh.go).
	Token string `json:"token"`
	// IDs are the messages a received acknowledges (receipts.go).
	IDs []string `json:"ids"`
}

// Error codes of {"type":"error"} replies.
const (
	codeBadRequest  = "bad_request"
	codeUnknownType = "unknown_type"
	codeForbidden   = "forbidden"
	codeTooLarge    = "too_large"
	codeTooMany     = "too_many_rooms"
	codeNoHistory   = "no_history"
)

var framePong = frame.AppendFrame(nil, ws.OpText, []byte(`{"type":"pong"}`))

// join registers an upgraded connection in the pool under the identity its
// handshake proved, and appends its welcome message to out.
func (c *conn) join(out []byte, id auth.Identity, hs *handshake, meta json.RawMessage) []byte {
	s := c.l.s
	ss := &session{perms: id.Perms}
	ss.m.Conn = c
	ss.m.User = id.User
	if !id.Exp.IsZero() {
		ss.exp = max(s.ticksAt(id.Exp), 1)
	}
	ss.rate.reset(c.l.now, s.cfg.MaxRate)
	c.sess = ss
	if s.cfg.MaxUserConns > 0 && s.pool.UserConns(id.User) >= s.cfg.MaxUserConns {
		s.replaceOldest(id.User)
	}
	s.pool.Add(&ss.m, c.l.idx)
	s.pool.Rooms(&ss.m, func(room string) { s.joined(&ss.m, room) }) // rooms the backend keeps the user in
	if s.store != nil && resumeQuery(hs.query) {
		// Live messages wait for the resume request (resume.go).
		ss.setResume(c.l, newHold(c.l.now))
	}
	ip := s.clientIP(c.gc.RemoteAddr(), hs)
	platform, sdk := clientParams(hs.query)
	s.dir.add(ss, clientTags{ip: ip, platform: platform, sdk: sdk}, time.Now())
	s.hooks.Connected(c.id(), c.gc.RemoteAddr(), ip)

	b := append(c.l.scratch[:0], `{"type":"welcome","conn":"c`...)
	b = strconv.AppendUint(b, c.sess.m.ID(), 10)
	b = append(b, `","user":`...)
	b = wire.AppendString(b, id.User)
	b = append(b, `,"ping":`...)
	b = strconv.AppendInt(b, s.cfg.PingInterval.Milliseconds(), 10)
	b = appendWelcomeLimits(b, s.cfg.MaxMessage, id.Exp)
	if len(meta) > 0 {
		b = append(b, `,"meta":`...)
		b = append(b, meta...)
	}
	b = append(b, '}')
	c.l.scratch = b
	return frame.AppendFrame(out, ws.OpText, b)
}

// request handles one client message. Nothing a client sends closes its
// connection here: a malformed or refused request gets an error reply.
func (c *conn) request(p []byte) {
	var req request
	if err := json.Unmarshal(p, &req); err != nil {
		c.reply(nil, codeBadRequest, "malformed JSON: "+err.Error())
		return
	}
	if len(req.Ref) > 0 && !validRef(req.Ref) {
		c.reply(nil, codeBadRequest, "ref must be a number or a string of at most 64 bytes")
		return
	}
	s, ss := c.l.s, c.sess
	switch req.Type {
	case "ping":
		c.write(framePong)
	case "resume":
		c.resume(req)
	case "refresh":
		c.refresh(req)
	case "received":
		c.received(req)
	case "join", "leave", "publish":
		if !auth.ValidName(req.Room) {
			c.reply(req.Ref, codeBadRequest, "room: 1 to 128 bytes of printable UTF-8 required")
			return
		}
		switch req.Type {
		case "join":
			if !ss.perms.CanJoin(req.Room) {
				c.reply(req.Ref, codeForbidden, "the token does not allow joining "+req.Room)
				return
			}
			ok, err := s.pool.Join(&ss.m, req.Room)
			if err != nil {
				c.reply(req.Ref, codeTooMany, err.Error())
				return
			}
			if ok {
				s.joined(&ss.m, req.Room)
			}
		case "leave":
			if s.pool.IsKept(ss.m.User, req.Room) {
				c.reply(req.Ref, codeForbidden, "the backend put this user in "+req.Room+": only it can take the user out")
				return
			}
			if s.pool.Leave(&ss.m, req.Room) {
				s.parted(&ss.m, req.Room)
			}
		case "publish":
			if !c.checkData(req) {
				return
			}
			if !ss.perms.CanPublish(req.Room) {
				c.reply(req.Ref, codeForbidden, "the token does not allow publishing to "+req.Room)
				return
			}
			if err := s.hooks.Publish(c.id(), req.Room, req.Data); err != nil {
				c.reply(req.Ref, wire.ClientCode(err), err.Error())
				return
			}
		}
		c.reply(req.Ref, "", "")
	case "send":
		if !auth.ValidName(req.To) {
			c.reply(req.Ref, codeBadRequest, "to: a user id is required")
			return
		}
		if !c.checkData(req) {
			return
		}
		switch {
		case s.cfg.ClientSends == SendsOff:
			c.reply(req.Ref, codeForbidden, "this server does not take sends from clients")
			return
		case !ss.perms.CanSend():
			c.reply(req.Ref, codeForbidden, "the token does not allow sending to users")
			return
		case !ss.perms.CanSendTo(req.To):
			c.reply(req.Ref, codeForbidden, "the token does not allow sending to "+req.To)
			return
		}
		if err := s.hooks.Send(c.id(), req.To, req.Data, s.cfg.ClientSends == SendsWebhook); err != nil {
			c.reply(req.Ref, wire.ClientCode(err), err.Error())
			return
		}
		c.reply(req.Ref, "", "")
	case "":
		c.reply(req.Ref, codeBadRequest, "type is required")
	default:
		c.reply(req.Ref, codeUnknownType, "unknown type "+strconv.Quote(req.Type))
	}
}

// checkData checks the data of a publish or send, replying if it is bad.
func (c *conn) checkData(req request) bool {
	switch {
	case len(req.Data) == 0:
		c.reply(req.Ref, codeBadRequest, "data is required")
	case len(req.Data) > c.l.s.cfg.MaxData:
		c.reply(req.Ref, codeTooLarge, "data is over "+strconv.Itoa(c.l.s.cfg.MaxData)+" bytes")
	default:
		return true
	}
	return false
}

// reply answers a request: an ack when code is empty, else an error. A
// request without a ref gets an ack only if it failed.
func (c *conn) reply(ref json.RawMessage, code, msg string) {
	if code == "" && len(ref) == 0 {
		return
	}
	b := c.l.scratch[:0]
	if code == "" {
		b = append(b, `{"type":"ack","ref":`...)
		b = append(b, ref...)
	} else {
		b = append(b, `{"type":"error"`...)
		if len(ref) > 0 {
			b = append(b, `,"ref":`...)
			b = append(b, ref...)
		}
		b = append(b, `,"code":"`...)
		b = append(b, code...)
		b = append(b, `","message":`...)
		b = wire.AppendString(b, msg)
	}
	b = append(b, '}')
	c.l.scratch = b
	c.send(ws.OpText, b)
}

// validRef accepts a JSON number or a short JSON string.
func validRef(ref json.RawMessage) bool {
	if len(ref) > 66 {
		return false
	}
	var v any
	if json.Unmarshal(ref, &v) != nil {
		return false
	}
	switch v.(type) {
	case float64, string:
		return true
	}
	return false
}

// ticksAt converts a wall-clock time to the server's tick count. A time
// past what the 32-bit count reaches (13.6 years of ticks after the start)
// is the count's last value: converting it modulo 2^32 once made a token
// valid until 2040 expire within seconds.
func (s *Engine) ticksAt(t time.Time) uint32 {
	d := t.Sub(s.start)
	if d < 0 {
		return 0
	}
	return uint32(min(d/tick, math.MaxUint32))
}

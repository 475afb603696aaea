package engine

import (
	"bytes"
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/server/internal/auth"
	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/wire"
)

// Resuming (docs/protocol.md#recovery). A client that reconnects with
// ?resume=1 has the live messages of its streams held back until it sends
// {"type":"resume","user_pos":P,"rooms":{"r":P}}: the server joins the
// rooms, writes what the client missed in each stream, oldest first, and
// from then on skips the live messages that the replay already carried.
// So the client sees every message once and in order: the replay, then
// live messages.
//
// Why that is exactly once on one node: a message is kept in the history
// before its live jobs are posted (the server's push.go), and a resume
// reads the history on the connection's loop and replays at once, as the
// loop runs those jobs. A job that runs on the loop before
// the resume finds the connection holding and skips it (the replay will
// find the message kept); one that runs after it finds the message's
// position at or before the connection's mark and skips it, unless it is
// newer than anything the replay saw.

// resumeState is what a resuming connection keeps on its session. Only
// the connection's loop touches it.
type resumeState struct {
	hold  bool                   // waiting for the resume request: stream messages are skipped
	until uint32                 // the loop tick the hold ends at, resume or not
	user  history.Pos            // the user stream's messages up to this came in the replay
	rooms map[string]history.Pos // and each room's
}

// maxHold bounds a hold: a client that asked for resume=1 and sends no
// resume gets live messages again after it (and misses those held).
const maxHold = 10 * time.Second

// newHold returns the state of a connection that holds live messages
// from tick now until its resume is served.
func newHold(now uint32) *resumeState {
	return &resumeState{hold: true, until: now + ticks(maxHold)}
}

// holding reports whether live stream messages are held back at tick now.
func (rs *resumeState) holding(now uint32) bool { return rs.hold && now < rs.until }

// skipUser reports whether a live message of the user stream at p is
// skipped at tick now.
func (rs *resumeState) skipUser(p history.Pos, now uint32, s *Engine) bool {
	if rs.holding(now) {
		s.held.Add(1)
		return true
	}
	return p <= rs.user
}

// filterRoom returns the frames of run, live messages of room, that the
// connection still needs, in l's scratch (valid until the next call).
func (rs *resumeState) filterRoom(room string, run []job, l *loop) [][]byte {
	out := l.filtered[:0]
	mark := rs.rooms[room]
	hold := rs.holding(l.now)
	for _, j := range run {
		if j.pos == 0 || !hold && j.pos > mark {
			out = append(out, j.frame)
		} else if hold {
			l.s.held.Add(1)
		}
	}
	l.filtered = out
	return out
}

// settle drops c's resume state once the replay is out and every live job
// that was queued before it has run: the marks only matter for messages in
// flight at the resume, and every later one carries a later position. It
// is posted behind those jobs, in the loop's FIFO outbox; a full outbox
// leaves the state in place, which only costs its memory.
func (c *conn) settle(rs *resumeState) {
	c.l.post(job{fn: func(*loop) int {
		if c.sess != nil && c.sess.resume(c.l) == rs && !rs.hold {
			c.sess.setResume(c.l, nil)
		}
		return 0
	}})
}

// resumeQuery reports whether an upgrade's query asks for resume=1.
func resumeQuery(q []byte) bool {
	for len(q) > 0 {
		var kv []byte
		kv, q, _ = bytes.Cut(q, []byte{'&'})
		if string(kv) == "resume=1" || string(kv) == "resume=true" {
			return true
		}
	}
	return false
}

// maxResumeRooms caps the rooms of one resume request.
const maxResumeRooms = 64

// resume serves {"type":"resume"}. It runs on the connection's loop.
func (c *conn) resume(req request) {
	s, ss := c.l.s, c.sess
	if s.store == nil {
		c.endHold()
		c.reply(req.Ref, codeNoHistory, "this server keeps no history (--history-size, --history-ttl)")
		return
	}
	if len(req.Rooms) > maxResumeRooms {
		c.reply(req.Ref, codeBadRequest, "rooms: at most "+strconv.Itoa(maxResumeRooms))
		return
	}
	var want []history.Want
	if req.UserPos != "" {
		p, err := history.ParsePos(req.UserPos)
		if err != nil {
			c.reply(req.Ref, codeBadRequest, "user_pos: "+err.Error())
			return
		}
		want = append(want, history.Want{After: p})
	}
	for room, ps := range req.Rooms {
		sp := history.Want{Room: room}
		if !auth.ValidName(room) {
			c.reply(req.Ref, codeBadRequest, "rooms: names are 1 to 128 bytes of printable UTF-8")
			return
		}
		if !ss.perms.CanJoin(room) {
			c.reply(req.Ref, codeForbidden, "the token does not allow joining "+room)
			return
		}
		if ps != "" {
			p, err := history.ParsePos(ps)
			if err != nil {
				c.reply(req.Ref, codeBadRequest, "rooms."+room+": "+err.Error())
				return
			}
			sp.After = p
		}
		want = append(want, sp)
	}
	// Live messages wait until the replay has gone out.
	if rs := ss.resume(c.l); rs == nil || !rs.holding(c.l.now) {
		h := newHold(c.l.now)
		if rs != nil {
			h.user, h.rooms = rs.user, rs.rooms
		}
		ss.setResume(c.l, h)
	}
	for _, sp := range want {
		if sp.Room == "" {
			continue
		}
		ok, err := s.pool.Join(&ss.m, sp.Room)
		if err != nil {
			c.endHold()
			c.reply(req.Ref, codeTooMany, err.Error())
			return
		}
		if ok {
			s.joined(&ss.m, sp.Room)
		}
	}
	// The replay goes to the loop's FIFO outbox, whichever goroutine the
	// store answers on: behind every live job posted before the read (the
	// connection, holding, skips those; their messages are in the read),
	// ahead of every job posted after it (their positions are past the
	// marks the replay leaves, unless the read already carried them).
	ref := append([]byte(nil), req.Ref...)
	s.store.Read(ss.m.User, want, func(got []history.Result) {
		if !c.l.post(job{fn: func(*loop) int { c.replay(got, ref); return 0 }}) {
			s.log.Warn("resume: replay refused by a full outbox; the client gets no ack and live messages again after its hold")
		}
	})
}

// replay writes a resume's answer: a gap message per stream that lost
// messages, then the missed messages that are kept merged by position,
// then the ack; and marks what the replay covered. It runs on c's loop.
func (c *conn) replay(got []history.Result, ref []byte) {
	ss := c.sess
	if c.state != stateOpen || ss == nil || !ss.resuming {
		return
	}
	rs := ss.resume(c.l)
	var all []history.Entry
	for _, g := range got {
		if g.Room == "" {
			rs.user = max(rs.user, g.Last)
		} else {
			if rs.rooms == nil {
				rs.rooms = make(map[string]history.Pos)
			}
			rs.rooms[g.Room] = max(rs.rooms[g.Room], g.Last)
		}
		if g.Gap {
			// The gap goes first; what was kept after it follows.
			c.l.s.gaps.Add(1)
			c.writeGap(g.Room, g.From)
		}
		all = append(all, g.Entries...)
	}
	slices.SortStableFunc(all, func(a, b history.Entry) int { return cmp.Compare(a.Pos, b.Pos) })
	c.l.s.replays.Add(int64(len(all)))
	frames := make([][]byte, 0, min(len(all), maxRun))
	for i := 0; i < len(all) && c.state == stateOpen; i += maxRun {
		frames = frames[:0]
		for _, e := range all[i:min(i+maxRun, len(all))] {
			frames = append(frames, e.Frame)
		}
		_ = c.sendv(frames)
	}
	rs.hold = false
	if c.state == stateOpen {
		c.reply(ref, "", "")
		c.settle(rs)
	}
}

// endHold lets live messages through again after a resume that failed.
func (c *conn) endHold() {
	if c.sess != nil && c.sess.resuming {
		c.sess.resume(c.l).hold = false
	}
}

// writeGap tells the client that messages of a stream may be lost:
// {"type":"gap","room":R,"pos":P}, room absent for the user stream, pos
// the position to resume from after a re-sync with the backend.
func (c *conn) writeGap(room string, last history.Pos) {
	b := append(c.l.scratch[:0], `{"type":"gap"`...)
	if room != "" {
		b = append(b, `,"room":`...)
		b = wire.AppendString(b, room)
	}
	if last != 0 {
		b = append(b, `,"pos":"`...)
		b = last.Append(b)
		b = append(b, '"')
	}
	b = append(b, '}')
	c.l.scratch = b
	c.send(ws.OpText, b)
}

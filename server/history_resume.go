package server

import (
	"bytes"
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/gobwas/ws"
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
// before its live jobs are posted (push.go), and a resume runs on the
// connection's loop, as do those jobs. A job that runs on the loop before
// the resume finds the connection holding and skips it (the replay will
// find the message kept); one that runs after it finds the message's
// position at or before the connection's mark and skips it, unless it is
// newer than anything the replay saw.

// resumeState is what a resuming connection keeps on its session. Only
// the connection's loop touches it.
type resumeState struct {
	hold  bool           // waiting for the resume request: stream messages are skipped
	until uint32         // the loop tick the hold ends at, resume or not
	user  pos            // the user stream's messages up to this came in the replay
	rooms map[string]pos // and each room's
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
func (rs *resumeState) skipUser(p pos, now uint32, s *Server) bool {
	if rs.holding(now) {
		s.held.Add(1)
		return true
	}
	return p <= rs.user
}

// filterRoom returns the frames of run, live messages of room, that the
// connection still needs.
func (rs *resumeState) filterRoom(room string, run []job, now uint32, s *Server) [][]byte {
	var out [][]byte
	mark := rs.rooms[room]
	hold := rs.holding(now)
	for _, j := range run {
		if j.pos == 0 || !hold && j.pos > mark {
			out = append(out, j.frame)
		} else if hold {
			s.held.Add(1)
		}
	}
	return out
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

// resumable reports whether the server keeps history.
func (s *Server) resumable() bool { return s.hist != nil || s.cl != nil && s.cl.history() }

// maxResumeRooms caps the rooms of one resume request.
const maxResumeRooms = 64

// streamPos is one stream a resume asks for: the user's (room empty) or a
// room's, and the last position the client saw; zero: join only.
type streamPos struct {
	room  string
	after pos
}

// resume serves {"type":"resume"}. It runs on the connection's loop.
func (c *conn) resume(req request) {
	s, ss := c.l.s, c.sess
	if !s.resumable() {
		c.endHold()
		c.reply(req.Ref, codeNoHistory, "this server keeps no history (--history-size, --history-ttl)")
		return
	}
	if len(req.Rooms) > maxResumeRooms {
		c.reply(req.Ref, codeBadRequest, "rooms: at most "+strconv.Itoa(maxResumeRooms))
		return
	}
	var want []streamPos
	if req.UserPos != "" {
		p, err := parsePos(req.UserPos)
		if err != nil {
			c.reply(req.Ref, codeBadRequest, "user_pos: "+err.Error())
			return
		}
		want = append(want, streamPos{after: p})
	}
	for room, ps := range req.Rooms {
		sp := streamPos{room: room}
		if !validName(room) {
			c.reply(req.Ref, codeBadRequest, "rooms: names are 1 to 128 bytes of printable UTF-8")
			return
		}
		if !ss.perms.canJoin(room) {
			c.reply(req.Ref, codeForbidden, "the token does not allow joining "+room)
			return
		}
		if ps != "" {
			p, err := parsePos(ps)
			if err != nil {
				c.reply(req.Ref, codeBadRequest, "rooms."+room+": "+err.Error())
				return
			}
			sp.after = p
		}
		want = append(want, sp)
	}
	// Live messages wait until the replay has gone out.
	if ss.rs == nil || !ss.rs.holding(c.l.now) {
		h := newHold(c.l.now)
		if ss.rs != nil {
			h.user, h.rooms = ss.rs.user, ss.rs.rooms
		}
		ss.rs = h
	}
	for _, sp := range want {
		if sp.room == "" {
			continue
		}
		if _, err := s.pool.Join(&ss.m, sp.room); err != nil {
			c.endHold()
			c.reply(req.Ref, codeTooMany, err.Error())
			return
		}
	}
	if s.cl != nil {
		s.cl.resume(c, ss.m.User, want, req.Ref)
		return
	}
	var got []replayed
	now := time.Now()
	for _, sp := range want {
		if sp.after == 0 && sp.room != "" {
			continue
		}
		stream := userStream(ss.m.User)
		if sp.room != "" {
			stream = roomStream(sp.room)
		}
		es, last, floor := s.hist.since(stream, sp.after, nil, now)
		got = append(got, replayed{room: sp.room, entries: es, last: last, gap: sp.after < floor, from: max(last, floor)})
	}
	c.replay(got, req.Ref)
}

// replayed is what the history holds for one stream of a resume.
type replayed struct {
	room    string
	entries []entry // after the client's position, oldest first
	last    pos     // the stream's last position
	gap     bool    // messages may be missing before entries
	from    pos     // on a gap: where to resume from after a re-sync
}

// replay writes a resume's answer: a gap message per stream that cannot
// be replayed, the missed messages of the others merged by position, then
// the ack; and marks what the replay covered. It runs on c's loop.
func (c *conn) replay(got []replayed, ref []byte) {
	ss := c.sess
	if c.state != stateOpen || ss == nil || ss.rs == nil {
		return
	}
	rs := ss.rs
	var all []entry
	for _, g := range got {
		if g.room == "" {
			rs.user = max(rs.user, g.last)
		} else {
			if rs.rooms == nil {
				rs.rooms = make(map[string]pos)
			}
			rs.rooms[g.room] = max(rs.rooms[g.room], g.last)
		}
		if g.gap {
			c.l.s.gaps.Add(1)
			c.writeGap(g.room, g.from)
			continue
		}
		all = append(all, g.entries...)
	}
	slices.SortStableFunc(all, func(a, b entry) int { return cmp.Compare(a.pos, b.pos) })
	c.l.s.replays.Add(int64(len(all)))
	for i := 0; i < len(all) && c.state == stateOpen; i += maxRun {
		frames := make([][]byte, 0, maxRun)
		for _, e := range all[i:min(i+maxRun, len(all))] {
			frames = append(frames, e.frame)
		}
		_ = c.sendv(frames)
	}
	rs.hold = false
	if c.state == stateOpen {
		c.reply(ref, "", "")
	}
}

// endHold lets live messages through again after a resume that failed.
func (c *conn) endHold() {
	if c.sess != nil && c.sess.rs != nil {
		c.sess.rs.hold = false
	}
}

// writeGap tells the client that messages of a stream may be lost:
// {"type":"gap","room":R,"pos":P}, room absent for the user stream, pos
// the position to resume from after a re-sync with the backend.
func (c *conn) writeGap(room string, last pos) {
	b := append(c.l.scratch[:0], `{"type":"gap"`...)
	if room != "" {
		b = append(b, `,"room":`...)
		b = appendJSONString(b, room)
	}
	if last != 0 {
		b = append(b, `,"pos":"`...)
		b = appendPos(b, last)
		b = append(b, '"')
	}
	b = append(b, '}')
	c.l.scratch = b
	c.send(ws.OpText, b)
}

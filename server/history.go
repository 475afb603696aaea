package server

import (
	"errors"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Recovery (docs/protocol.md#recovery): every push to a user or a room
// carries a position, "pos", in the stream it belongs to: "u:USER" for
// pushes and sends to a user, "r:ROOM" for room publishes. A position is
// a Redis stream id, "MS-SEQ": milliseconds and a sequence number, taken
// from one clock that only goes forward, so positions are comparable
// across every stream of a node (and of a cluster, whose positions Redis
// assigns). A client that reconnects names the last position it saw per
// stream and gets what it missed; the history keeps, per stream, the last
// Config.HistorySize messages younger than Config.HistoryTTL.

// pos is a position packed into 64 bits: milliseconds since the Unix
// epoch in the high 44 (until the year 2527), the sequence in the low 20.
// Zero means none.
type pos uint64

const seqBits = 20

func makePos(ms int64, seq uint64) pos { return pos(uint64(ms)<<seqBits | seq) }

// appendPos appends the wire form of p, "MS-SEQ", to b.
func appendPos(b []byte, p pos) []byte {
	b = strconv.AppendUint(b, uint64(p>>seqBits), 10)
	b = append(b, '-')
	return strconv.AppendUint(b, uint64(p&(1<<seqBits-1)), 10)
}

func (p pos) String() string { return string(appendPos(nil, p)) }

var errBadPos = errors.New("server: a position is \"MS-SEQ\", two decimal numbers")

// parsePos parses "MS-SEQ" (or a bare "MS", as Redis allows).
func parsePos(s string) (pos, error) {
	a, b, _ := strings.Cut(s, "-")
	ms, err := strconv.ParseUint(a, 10, 44)
	if err != nil {
		return 0, errBadPos
	}
	var seq uint64
	if b != "" {
		if seq, err = strconv.ParseUint(b, 10, seqBits); err != nil {
			return 0, errBadPos
		}
	}
	return makePos(int64(ms), seq), nil
}

// posClock hands out positions that only go forward, from the wall clock:
// the same millisecond or a clock that stepped back gets the next
// sequence number. Safe for any goroutine.
type posClock struct{ last atomic.Uint64 }

func (c *posClock) next(now time.Time) pos {
	p := uint64(makePos(now.UnixMilli(), 0))
	for {
		old := c.last.Load()
		n := max(p, old+1)
		if c.last.CompareAndSwap(old, n) {
			return pos(n)
		}
	}
}

// observe moves the clock past p, a position made elsewhere (by Redis).
func (c *posClock) observe(p pos) {
	for {
		old := c.last.Load()
		if uint64(p) <= old || c.last.CompareAndSwap(old, uint64(p)) {
			return
		}
	}
}

// Stream names.
func userStream(user string) string { return "u:" + user }
func roomStream(room string) string { return "r:" + room }

// entry is one kept message: its position and its encoded frame, which is
// the very frame that went out live, shared with every stream that keeps
// the same message and with the receivers. It is never modified.
type entry struct {
	pos   pos
	frame []byte
}

// histShards is the number of independently locked parts of the history.
const histShards = 64

// history keeps the last messages of every stream in memory, for a node
// without Redis. A kept message costs 32 bytes per stream that keeps it
// (the entry in a ring) plus its frame once, shared; a stream costs its
// map entry and ring header (about 100 bytes) while it has messages
// younger than the TTL. Safe for any goroutine.
type history struct {
	size  int
	ttl   time.Duration
	start pos // nothing before this was kept: the node started then
	seed  maphash.Seed
	parts [histShards]histPart
}

type histPart struct {
	mu      sync.Mutex
	streams map[string]*ring
	swept   int64 // ms of the last sweep of expired streams
}

// ring is one stream's kept messages, oldest first from head.
type ring struct {
	buf   []entry // grows up to size, then wraps
	head  int
	n     int
	floor pos // every message of the stream up to floor may be gone
}

func newHistory(size int, ttl time.Duration, now time.Time, start pos) *history {
	h := &history{size: size, ttl: ttl, start: start, seed: maphash.MakeSeed()}
	for i := range h.parts {
		h.parts[i].streams = make(map[string]*ring)
		h.parts[i].swept = now.UnixMilli()
	}
	return h
}

func (h *history) part(stream string) *histPart {
	return &h.parts[maphash.String(h.seed, stream)%histShards]
}

// horizon is the oldest position a resume can still be served from without
// doubt: messages older than the TTL may have expired, and nothing before
// the node started is known.
func (h *history) horizon(now time.Time) pos {
	return max(h.start, makePos(now.Add(-h.ttl).UnixMilli(), 0))
}

// add keeps frame at position p in stream. The caller posts the live jobs
// of the message only after add returns, so that a resume that does not
// find the message in the history gets it live.
func (h *history) add(stream string, p pos, frame []byte, now time.Time) {
	pt := h.part(stream)
	pt.mu.Lock()
	r := pt.streams[stream]
	if r == nil {
		// Anything this stream held before may have expired.
		r = &ring{floor: h.horizon(now)}
		pt.streams[stream] = r
	}
	r.push(entry{p, frame}, h.size)
	r.expire(makePos(now.Add(-h.ttl).UnixMilli(), 0))
	if ms := now.UnixMilli(); ms-pt.swept > h.ttl.Milliseconds()/4 {
		pt.swept = ms
		pt.sweep(makePos(now.Add(-h.ttl).UnixMilli(), 0))
	}
	pt.mu.Unlock()
}

// sweep drops the streams whose every message expired. It runs under the
// part's lock.
func (pt *histPart) sweep(oldest pos) {
	for name, r := range pt.streams {
		if r.expire(oldest); r.n == 0 {
			delete(pt.streams, name)
		}
	}
}

// push appends e, dropping the oldest entry when the ring holds size.
func (r *ring) push(e entry, size int) {
	if r.n < len(r.buf) || len(r.buf) < size {
		if r.n == len(r.buf) {
			// Grow: unwrap into a larger buffer.
			nb := make([]entry, r.n, min(max(2*r.n, 4), size))
			for i := range r.n {
				nb[i] = r.at(i)
			}
			r.buf, r.head = nb[:cap(nb)], 0
		}
		r.buf[(r.head+r.n)%len(r.buf)] = e
		r.n++
		return
	}
	r.floor = max(r.floor, r.buf[r.head].pos)
	r.buf[r.head] = e
	r.head = (r.head + 1) % len(r.buf)
}

func (r *ring) at(i int) entry { return r.buf[(r.head+i)%len(r.buf)] }

// expire drops the entries older than oldest.
func (r *ring) expire(oldest pos) {
	for r.n > 0 && r.buf[r.head].pos < oldest {
		r.floor = max(r.floor, r.buf[r.head].pos)
		r.buf[r.head] = entry{}
		r.head = (r.head + 1) % len(r.buf)
		r.n--
	}
}

// since appends to dst the entries of stream after position after, oldest
// first, and reports the last position the stream has (at least after)
// and its floor: messages up to floor may be gone, so a client that saw
// only up to a position before it has a gap.
func (h *history) since(stream string, after pos, dst []entry, now time.Time) ([]entry, pos, pos) {
	pt := h.part(stream)
	pt.mu.Lock()
	defer pt.mu.Unlock()
	last := after
	floor := h.horizon(now)
	if r := pt.streams[stream]; r != nil {
		r.expire(makePos(now.Add(-h.ttl).UnixMilli(), 0))
		floor = max(r.floor, h.start)
		for i := range r.n {
			if e := r.at(i); e.pos > after {
				dst = append(dst, e)
				last = e.pos
			}
		}
	}
	return dst, last, floor
}

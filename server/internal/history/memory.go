package history

import (
	"hash/maphash"
	"sync"
	"time"
)

// Entry is one kept message: its position and its encoded frame, which is
// the very frame that went out live, shared with every stream that keeps
// the same message and with the receivers. It is never modified.
type Entry struct {
	Pos   Pos
	Frame []byte
}

// histShards is the number of independently locked parts of the history.
const histShards = 64

// history keeps the last messages of every stream in memory, for a node
// without Redis. A kept message costs 32 bytes per stream that keeps it
// (the Entry in a ring) plus its frame once, shared; a stream costs its
// map entry and ring header (about 100 bytes) while it has messages
// younger than the TTL. Safe for any goroutine.
type Memory struct {
	size  int
	ttl   time.Duration
	start Pos // nothing before this was kept: the node started then
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
	buf   []Entry // grows up to size, then wraps
	head  int
	n     int
	floor Pos // every message of the stream up to floor may be gone
}

// NewMemory returns an empty in-memory history that keeps size messages
// per stream for ttl; start is the position it starts at: nothing before
// it is known.
func NewMemory(size int, ttl time.Duration, now time.Time, start Pos) *Memory {
	h := &Memory{size: size, ttl: ttl, start: start, seed: maphash.MakeSeed()}
	for i := range h.parts {
		h.parts[i].streams = make(map[string]*ring)
		h.parts[i].swept = now.UnixMilli()
	}
	return h
}

func (h *Memory) part(stream string) *histPart {
	return &h.parts[maphash.String(h.seed, stream)%histShards]
}

// horizon is the oldest position a resume can still be served from without
// doubt: messages older than the TTL may have expired, and nothing before
// the node started is known.
func (h *Memory) horizon(now time.Time) Pos {
	return max(h.start, MakePos(now.Add(-h.ttl).UnixMilli(), 0))
}

// Add keeps frame at position p in stream. The caller posts the live jobs
// of the message only after add returns, so that a resume that does not
// find the message in the history gets it live.
func (h *Memory) Add(stream string, p Pos, frame []byte, now time.Time) {
	pt := h.part(stream)
	pt.mu.Lock()
	r := pt.streams[stream]
	if r == nil {
		// Anything this stream held before may have expired.
		r = &ring{floor: h.horizon(now)}
		pt.streams[stream] = r
	}
	r.push(Entry{p, frame}, h.size)
	r.expire(MakePos(now.Add(-h.ttl).UnixMilli(), 0))
	if ms := now.UnixMilli(); ms-pt.swept > h.ttl.Milliseconds()/4 {
		pt.swept = ms
		pt.sweep(MakePos(now.Add(-h.ttl).UnixMilli(), 0))
	}
	pt.mu.Unlock()
}

// sweep drops the streams whose every message expired. It runs under the
// part's lock.
func (pt *histPart) sweep(oldest Pos) {
	for name, r := range pt.streams {
		if r.expire(oldest); r.n == 0 {
			delete(pt.streams, name)
		}
	}
}

// push appends e, dropping the oldest entry when the ring holds size.
func (r *ring) push(e Entry, size int) {
	if r.n < len(r.buf) || len(r.buf) < size {
		if r.n == len(r.buf) {
			// Grow: unwrap into a larger buffer.
			nb := make([]Entry, r.n, min(max(2*r.n, 4), size))
			for i := range r.n {
				nb[i] = r.at(i)
			}
			r.buf, r.head = nb[:cap(nb)], 0
		}
		r.buf[(r.head+r.n)%len(r.buf)] = e
		r.n++
		return
	}
	r.floor = max(r.floor, r.buf[r.head].Pos)
	r.buf[r.head] = e
	r.head = (r.head + 1) % len(r.buf)
}

func (r *ring) at(i int) Entry { return r.buf[(r.head+i)%len(r.buf)] }

// expire drops the entries older than oldest.
func (r *ring) expire(oldest Pos) {
	for r.n > 0 && r.buf[r.head].Pos < oldest {
		r.floor = max(r.floor, r.buf[r.head].Pos)
		r.buf[r.head] = Entry{}
		r.head = (r.head + 1) % len(r.buf)
		r.n--
	}
}

// Since reads what stream holds after position after, oldest first: the
// stream's last position (at least after) and its floor, before which
// messages may be gone. It never fails.
func (h *Memory) Since(stream string, after Pos, now time.Time) Read {
	pt := h.part(stream)
	pt.mu.Lock()
	defer pt.mu.Unlock()
	rd := Read{Last: after, Floor: h.horizon(now)}
	if r := pt.streams[stream]; r != nil {
		r.expire(MakePos(now.Add(-h.ttl).UnixMilli(), 0))
		rd.Floor = max(r.floor, h.start)
		for i := range r.n {
			if e := r.at(i); e.Pos > after {
				rd.Entries = append(rd.Entries, e)
				rd.Last = e.Pos
			}
		}
	}
	return rd
}

// Read reads the streams of one resume and calls done with what the
// client is to be sent, at once, on the caller's goroutine. It implements
// Store.
func (h *Memory) Read(user string, want []Want, done func([]Result)) {
	now := time.Now()
	res := make([]Result, 0, len(want))
	for _, w := range want {
		if w.After == 0 && w.Room != "" {
			continue // join only
		}
		res = append(res, Recover(w, h.Since(w.Stream(user), w.After, now)))
	}
	done(res)
}

// Streams is the number of streams kept, and Bytes the bytes of their
// kept frames (each counted once per stream that keeps it).
func (h *Memory) Streams() (streams int, bytes int64) {
	for i := range h.parts {
		pt := &h.parts[i]
		pt.mu.Lock()
		streams += len(pt.streams)
		for _, r := range pt.streams {
			for k := range r.n {
				bytes += int64(len(r.at(k).Frame))
			}
		}
		pt.mu.Unlock()
	}
	return streams, bytes
}

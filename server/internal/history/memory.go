package history

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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

// Memory keeps the last messages of every stream in memory, for a node
// without Redis. A kept message costs 32 bytes per stream that keeps it
// (the Entry in a ring) plus its frame once, shared; a stream costs its
// map entry and ring header (about 100 bytes) while it has messages
// younger than the TTL. Safe for any goroutine.
//
// The whole is capped at maxBytes, counting each entry's frame and
// overhead once per stream that keeps it: past the cap the oldest entries
// of all streams go first (their streams' floors rise, so a resume from
// before them gets a gap), counted in Evicted.
type Memory struct {
	size     int
	ttl      time.Duration
	maxBytes int64
	start    Pos // nothing before this was kept: the node started then
	seed     maphash.Seed
	parts    [histShards]histPart

	bytes, entries, streams, evicted atomic.Int64

	// Every entry kept, oldest first across streams, for eviction; refs
	// to entries gone already (overwritten, expired) are skipped, and
	// dropped in bulk when they outnumber the live ones.
	qmu  sync.Mutex
	q    []ref
	head int
}

// ref names an entry of the eviction queue.
type ref struct {
	stream string
	pos    Pos
}

// entryOverhead is what an entry counts beyond its frame.
const entryOverhead = 32

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

// noCap is the maxBytes of a history without a cap.
const noCap = 1 << 62

// NewMemory returns an empty in-memory history that keeps size messages
// per stream for ttl; start is the position it starts at: nothing before
// it is known.
// maxBytes caps the bytes it holds; zero or less means no cap.
func NewMemory(size int, ttl time.Duration, maxBytes int64, now time.Time, start Pos) *Memory {
	if maxBytes <= 0 {
		maxBytes = noCap
	}
	h := &Memory{size: size, ttl: ttl, maxBytes: maxBytes, start: start, seed: maphash.MakeSeed()}
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
		h.streams.Add(1)
	}
	h.gone(r.push(Entry{p, frame}, h.size))
	h.gone(r.expire(MakePos(now.Add(-h.ttl).UnixMilli(), 0)))
	h.bytes.Add(size(frame))
	h.entries.Add(1)
	if ms := now.UnixMilli(); ms-pt.swept > h.ttl.Milliseconds()/4 {
		pt.swept = ms
		h.sweep(pt, MakePos(now.Add(-h.ttl).UnixMilli(), 0))
	}
	pt.mu.Unlock()

	h.qmu.Lock()
	h.q = append(h.q, ref{stream, p})
	h.compact()
	h.qmu.Unlock()
	h.evict()
}

func size(frame []byte) int64 { return int64(len(frame)) + entryOverhead }

// gone accounts for entries that left a ring.
func (h *Memory) gone(n int, bytes int64) {
	if n > 0 {
		h.entries.Add(-int64(n))
		h.bytes.Add(-bytes)
	}
}

// evict drops the oldest entries until the history is under its cap.
func (h *Memory) evict() {
	for h.bytes.Load() > h.maxBytes {
		h.qmu.Lock()
		if h.head == len(h.q) {
			h.qmu.Unlock()
			return
		}
		e := h.q[h.head]
		h.q[h.head] = ref{}
		h.head++
		h.compact()
		h.qmu.Unlock()

		pt := h.part(e.stream)
		pt.mu.Lock()
		if r := pt.streams[e.stream]; r != nil && r.n > 0 && r.at(0).Pos == e.pos {
			h.gone(r.drop())
			h.evicted.Add(1)
			if r.n == 0 {
				delete(pt.streams, e.stream)
				h.streams.Add(-1)
			}
		}
		pt.mu.Unlock()
	}
}

// compact drops the queue's spent front, and its refs to entries gone
// already once they outnumber the live ones. It runs under qmu.
func (h *Memory) compact() {
	if h.head > 1024 && h.head >= len(h.q)/2 {
		n := copy(h.q, h.q[h.head:])
		clear(h.q[n:])
		h.q, h.head = h.q[:n], 0
	}
	if live := h.entries.Load(); int64(len(h.q)-h.head) > 2*live+1024 {
		kept := h.q[:0]
		for _, e := range h.q[h.head:] {
			if h.holds(e) {
				kept = append(kept, e)
			}
		}
		clear(h.q[len(kept):])
		h.q, h.head = kept, 0
	}
}

// holds reports whether the entry e names is still kept: entries leave a
// ring from its oldest end only.
func (h *Memory) holds(e ref) bool {
	pt := h.part(e.stream)
	pt.mu.Lock()
	defer pt.mu.Unlock()
	r := pt.streams[e.stream]
	return r != nil && r.n > 0 && r.at(0).Pos <= e.pos && e.pos <= r.at(r.n-1).Pos
}

// sweep drops the streams whose every message expired. It runs under the
// part's lock.
func (h *Memory) sweep(pt *histPart, oldest Pos) {
	for name, r := range pt.streams {
		if h.gone(r.expire(oldest)); r.n == 0 {
			delete(pt.streams, name)
			h.streams.Add(-1)
		}
	}
}

// push appends e, dropping the oldest entry when the ring holds size, and
// reports what it dropped.
func (r *ring) push(e Entry, size int) (int, int64) {
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
		return 0, 0
	}
	old := r.buf[r.head]
	r.floor = max(r.floor, old.Pos)
	r.buf[r.head] = e
	r.head = (r.head + 1) % len(r.buf)
	return 1, sizeOf(old)
}

func sizeOf(e Entry) int64 { return size(e.Frame) }

// drop takes out the oldest entry and reports what it dropped.
func (r *ring) drop() (int, int64) {
	old := r.buf[r.head]
	r.floor = max(r.floor, old.Pos)
	r.buf[r.head] = Entry{}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return 1, sizeOf(old)
}

func (r *ring) at(i int) Entry { return r.buf[(r.head+i)%len(r.buf)] }

// expire drops the entries older than oldest and reports what it dropped.
func (r *ring) expire(oldest Pos) (n int, bytes int64) {
	for r.n > 0 && r.buf[r.head].Pos < oldest {
		k, b := r.drop()
		n, bytes = n+k, bytes+b
	}
	return n, bytes
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
		h.gone(r.expire(MakePos(now.Add(-h.ttl).UnixMilli(), 0)))
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

// Stats is what a Memory holds: streams, entries (one per stream that
// keeps a message), their bytes as counted against the cap, and entries
// evicted by the cap, ever.
type Stats struct {
	Streams int64 `json:"streams"`
	Entries int64 `json:"entries"`
	Bytes   int64 `json:"bytes"`
	Evicted int64 `json:"evicted"`
}

// Stats reads h's counters, without locks.
func (h *Memory) Stats() Stats {
	return Stats{Streams: h.streams.Load(), Entries: h.entries.Load(), Bytes: h.bytes.Load(), Evicted: h.evicted.Load()}
}

// Collector returns the history's metrics.
func (h *Memory) Collector() prometheus.Collector { return collector{h} }

var (
	descStreams = prometheus.NewDesc("wspush_history_streams", "Streams (users' and rooms') the history keeps messages of.", nil, nil)
	descBytes   = prometheus.NewDesc("wspush_history_bytes", "Bytes the history holds, counted against --history-max-bytes.", nil, nil)
	descEntries = prometheus.NewDesc("wspush_history_entries", "Messages kept, once per stream that keeps them.", nil, nil)
	descLimit   = prometheus.NewDesc("wspush_history_bytes_limit", "--history-max-bytes: the bytes the history holds at most before it evicts the oldest messages.", nil, nil)
	descEvicted = prometheus.NewDesc("wspush_history_evicted_total", "Messages dropped from the history to stay under --history-max-bytes: a resume from before them gets a gap.", nil, nil)
)

type collector struct{ h *Memory }

// Describe implements prometheus.Collector.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descStreams
	ch <- descBytes
	ch <- descEntries
	ch <- descEvicted
	ch <- descLimit
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.h.Stats()
	ch <- prometheus.MustNewConstMetric(descStreams, prometheus.GaugeValue, float64(st.Streams))
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(descEntries, prometheus.GaugeValue, float64(st.Entries))
	ch <- prometheus.MustNewConstMetric(descEvicted, prometheus.CounterValue, float64(st.Evicted))
	if c.h.maxBytes < noCap {
		ch <- prometheus.MustNewConstMetric(descLimit, prometheus.GaugeValue, float64(c.h.maxBytes))
	}
}

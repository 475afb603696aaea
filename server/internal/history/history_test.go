package history

import (
	"errors"
	"runtime"
	"strconv"
	"testing"
	"time"
)

func TestPosRoundTripsAndOrders(t *testing.T) {
	for _, s := range []string{"1700000000000-0", "1700000000000-7", "1-1048575"} {
		p, err := ParsePos(s)
		if err != nil || p.String() != s {
			t.Errorf("ParsePos(%q) = %v, %v", s, p, err)
		}
	}
	if p, err := ParsePos("1700000000000"); err != nil || p.String() != "1700000000000-0" {
		t.Errorf("bare ms: %v %v", p, err)
	}
	for _, bad := range []string{"", "x", "1-x", "-1", "1-1048576", "1-2-3"} {
		if _, err := ParsePos(bad); err == nil {
			t.Errorf("ParsePos(%q) accepted", bad)
		}
	}
	var c Clock
	now := time.UnixMilli(1700000000000)
	a, b := c.Next(now), c.Next(now)
	back := c.Next(now.Add(-time.Second)) // a clock that stepped back
	if !(a < b && b < back) || b.String() != "1700000000000-1" {
		t.Errorf("clock: %v %v %v", a, b, back)
	}
	c.Observe(MakePos(1800000000000, 5))
	if p := c.Next(now); p.String() != "1800000000000-6" {
		t.Errorf("after observe: %v", p)
	}
}

func TestHistoryKeepsTheLastSizeAndReportsTheFloor(t *testing.T) {
	now := time.UnixMilli(1700000000000)
	start := MakePos(now.UnixMilli(), 0)
	h := NewMemory(3, time.Minute, 0, now, start)
	var ps []Pos
	for i := range 5 {
		p := MakePos(now.UnixMilli(), uint64(i+1))
		ps = append(ps, p)
		h.Add("u:a", p, []byte{byte(i)}, now)
	}
	rd := h.Since("u:a", ps[2], now)
	if len(rd.Entries) != 2 || rd.Entries[0].Pos != ps[3] || rd.Last != ps[4] || ps[2] < rd.Floor {
		t.Fatalf("since the 3rd: %d entries, last %v, floor %v", len(rd.Entries), rd.Last, rd.Floor)
	}
	// The first two were dropped: resuming from the first is a gap from
	// the second (the last one gone), then the three kept.
	r := Recover(Want{After: ps[0]}, h.Since("u:a", ps[0], now))
	if !r.Gap || r.From != ps[1] || len(r.Entries) != 3 || r.Entries[0].Pos != ps[2] || r.Last != ps[4] {
		t.Fatalf("since the 1st: %+v, want a gap from the 2nd, then the 3rd to the 5th", r)
	}
	// A stream nobody pushed to, from a position after the start: nothing missed.
	if r := Recover(Want{After: ps[0]}, h.Since("u:b", ps[0], now)); len(r.Entries) != 0 || r.Gap {
		t.Fatalf("unknown stream: %+v", r)
	}
	// Past the TTL everything has expired: a client that had not seen the
	// last message has a gap.
	later := now.Add(2 * time.Minute)
	if r := Recover(Want{After: ps[3]}, h.Since("u:a", ps[3], later)); len(r.Entries) != 0 || !r.Gap {
		t.Fatalf("after the TTL: %+v", r)
	}
	h.Add("u:c", MakePos(later.UnixMilli(), 0), nil, later) // sweeps the expired streams
	if n := len(h.part("u:a").streams) + len(h.part("u:c").streams); n > 2 {
		t.Fatalf("expired streams not swept")
	}
}

// A gap covers only what may be gone: entries at or before the floor are
// left to the re-sync, those after it are replayed after the gap.
func TestRecoverAGapKeepsWhatComesAfterTheFloor(t *testing.T) {
	es := []Entry{{Pos: 10}, {Pos: 20}, {Pos: 30}}
	r := Recover(Want{After: 5}, Read{Entries: es, Last: 30, Floor: 20})
	if !r.Gap || r.From != 20 || len(r.Entries) != 1 || r.Entries[0].Pos != 30 || r.Last != 30 {
		t.Fatalf("%+v", r)
	}
	r = Recover(Want{After: 5}, Read{Entries: es[:2], Last: 20, Floor: 25})
	if !r.Gap || r.From != 25 || len(r.Entries) != 0 || r.Last != 25 {
		t.Fatalf("nothing after the floor: %+v", r)
	}
	r = Recover(Want{After: 25}, Read{Entries: es[2:], Last: 30, Floor: 20})
	if r.Gap || len(r.Entries) != 1 {
		t.Fatalf("no gap: %+v", r)
	}
}

func TestRecoverAStoreThatFailedIsAGapWithoutPosition(t *testing.T) {
	r := Recover(Want{Room: "r", After: 5}, Read{Err: errors.New("redis: timeout")})
	if !r.Gap || r.From != 0 || len(r.Entries) != 0 || r.Room != "r" || r.Last != 5 {
		t.Fatalf("%+v", r)
	}
}

func TestMemoryReadSkipsJoinOnlyRooms(t *testing.T) {
	now := time.Now()
	h := NewMemory(4, time.Minute, 0, now, 1)
	p := MakePos(now.UnixMilli(), 1)
	h.Add(RoomStream("chat"), p, []byte("x"), now)
	h.Add(UserStream("al"), p, []byte("y"), now)
	var got []Result
	h.Read("al", []Want{{After: 1}, {Room: "quiet"}, {Room: "chat", After: 1}}, func(r []Result) { got = r })
	if len(got) != 2 || got[0].Room != "" || got[1].Room != "chat" || len(got[1].Entries) != 1 || got[1].Last != p {
		t.Fatalf("%+v", got)
	}
	if st := h.Stats(); st.Streams != 2 || st.Entries != 2 || st.Bytes != 2*(1+entryOverhead) {
		t.Fatalf("stats %+v", st)
	}
}

// BenchmarkHistoryAdd keeps one message in one user's stream among 10,000
// users, and reports the heap a kept message costs, its shared frame
// (100 bytes of payload) apart.
func BenchmarkHistoryAdd(b *testing.B) {
	const users = 10000
	names := make([]string, users)
	for i := range names {
		names[i] = UserStream("user" + strconv.Itoa(i))
	}
	frame := make([]byte, 100)
	now := time.Now()
	h := NewMemory(64, time.Hour, 0, now, 1)
	var c Clock
	before := heapInUse()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.Add(names[i%users], c.Next(now), frame, now)
		i++
	}
	kept := min(i, users*64)
	b.ReportMetric(float64(heapInUse()-before)/float64(kept), "heap-B/kept")
	runtime.KeepAlive(h)
}

func heapInUse() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// Past its byte cap the history drops the oldest entries of all streams
// first, raises their floors (a resume from before them is a gap) and
// counts them; its bytes stay under the cap.
func TestMemoryCapEvictsTheOldestAcrossStreams(t *testing.T) {
	now := time.Now()
	frame := make([]byte, 100)
	per := int64(len(frame) + entryOverhead)
	h := NewMemory(1000, time.Hour, 10*per, now, 1)
	var ps []Pos
	for i := range 25 {
		p := MakePos(now.UnixMilli(), uint64(i+1))
		ps = append(ps, p)
		h.Add("u:"+strconv.Itoa(i%3), p, frame, now)
		if b := h.Stats().Bytes; b > 10*per {
			t.Fatalf("after %d adds: %d bytes, over the cap of %d", i+1, b, 10*per)
		}
	}
	st := h.Stats()
	if st.Entries != 10 || st.Evicted != 15 {
		t.Fatalf("stats %+v, want 10 entries kept and 15 evicted", st)
	}
	// The 15 oldest went, whatever their stream: the first stream kept
	// now starts after ps[14].
	for s := range 3 {
		rd := h.Since("u:"+strconv.Itoa(s), 0, now)
		if len(rd.Entries) == 0 || rd.Entries[0].Pos <= ps[14] || rd.Floor < ps[12] {
			t.Fatalf("stream %d: first %v floor %v", s, rd.Entries[0].Pos, rd.Floor)
		}
	}
	if r := Recover(Want{After: ps[5]}, h.Since("u:0", ps[5], now)); !r.Gap {
		t.Fatalf("a resume from an evicted position: %+v, want a gap", r)
	}
}

// Entries that leave by a stream's own size or TTL are not counted twice:
// the eviction queue skips them, and stays bounded.
func TestMemoryQueueStaysBoundedWithoutEvictions(t *testing.T) {
	now := time.Now()
	h := NewMemory(2, time.Hour, 1<<30, now, 1)
	for i := range 50000 {
		h.Add("u:a", MakePos(now.UnixMilli(), uint64(i+1)), []byte("x"), now)
	}
	h.qmu.Lock()
	q := len(h.q) - h.head
	h.qmu.Unlock()
	if st := h.Stats(); st.Entries != 2 || st.Evicted != 0 || q > 2*2+1024+1 {
		t.Fatalf("stats %+v, queue %d", st, q)
	}
}

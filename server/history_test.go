package server

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"
)

func TestPosRoundTripsAndOrders(t *testing.T) {
	for _, s := range []string{"1700000000000-0", "1700000000000-7", "1-1048575"} {
		p, err := parsePos(s)
		if err != nil || p.String() != s {
			t.Errorf("parsePos(%q) = %v, %v", s, p, err)
		}
	}
	if p, err := parsePos("1700000000000"); err != nil || p.String() != "1700000000000-0" {
		t.Errorf("bare ms: %v %v", p, err)
	}
	for _, bad := range []string{"", "x", "1-x", "-1", "1-1048576", "1-2-3"} {
		if _, err := parsePos(bad); err == nil {
			t.Errorf("parsePos(%q) accepted", bad)
		}
	}
	var c posClock
	now := time.UnixMilli(1700000000000)
	a, b := c.next(now), c.next(now)
	back := c.next(now.Add(-time.Second)) // a clock that stepped back
	if !(a < b && b < back) || b.String() != "1700000000000-1" {
		t.Errorf("clock: %v %v %v", a, b, back)
	}
	c.observe(makePos(1800000000000, 5))
	if p := c.next(now); p.String() != "1800000000000-6" {
		t.Errorf("after observe: %v", p)
	}
}

func TestHistoryKeepsTheLastSizeAndReportsTheFloor(t *testing.T) {
	now := time.UnixMilli(1700000000000)
	start := makePos(now.UnixMilli(), 0)
	h := newHistory(3, time.Minute, now, start)
	var ps []pos
	for i := range 5 {
		p := makePos(now.UnixMilli(), uint64(i+1))
		ps = append(ps, p)
		h.add("u:a", p, []byte{byte(i)}, now)
	}
	es, last, floor := h.since("u:a", ps[2], nil, now)
	if len(es) != 2 || es[0].pos != ps[3] || last != ps[4] || ps[2] < floor {
		t.Fatalf("since the 3rd: %d entries, last %v, floor %v", len(es), last, floor)
	}
	// The first two were dropped: resuming from the first is a gap.
	if _, _, floor := h.since("u:a", ps[0], nil, now); ps[0] >= floor {
		t.Fatalf("since the 1st: floor %v, want a gap", floor)
	}
	// A stream nobody pushed to, from a position after the start: nothing missed.
	if es, _, floor := h.since("u:b", ps[0], nil, now); len(es) != 0 || ps[0] < floor {
		t.Fatalf("unknown stream: %d entries, floor %v", len(es), floor)
	}
	// Past the TTL everything has expired: a client that had not seen the
	// last message has a gap.
	later := now.Add(2 * time.Minute)
	if es, _, floor := h.since("u:a", ps[3], nil, later); len(es) != 0 || ps[3] >= floor {
		t.Fatalf("after the TTL: %d entries, floor %v", len(es), floor)
	}
	h.add("u:c", makePos(later.UnixMilli(), 0), nil, later) // sweeps the expired streams
	if n := len(h.part("u:a").streams) + len(h.part("u:c").streams); n > 2 {
		t.Fatalf("expired streams not swept")
	}
}

// pushPos sends a push through s and returns nothing; the client reads it.
func pushTo(t *testing.T, s *Server, user, data string) {
	t.Helper()
	if _, err := s.Push(context.Background(), []string{user}, json.RawMessage(data)); err != nil {
		t.Fatal(err)
	}
}

// expectPush reads the next push and checks its data; it returns its pos.
func (c *client) expectPush(data string) string {
	c.t.Helper()
	m := c.expectJSON("push")
	got, _ := json.Marshal(m["data"])
	if string(got) != data {
		c.t.Fatalf("push data %s, want %s (%v)", got, data, m)
	}
	p, _ := m["pos"].(string)
	return p
}

func historyConfig() Config {
	return Config{HistorySize: 10, HistoryTTL: time.Minute}
}

func TestResumeReplaysMissedPushesOnceInOrderThenLive(t *testing.T) {
	s := startServer(t, historyConfig())
	c, _ := dialAs(t, s, "?user=alice", "")
	pushTo(t, s, "alice", `1`)
	seen := c.expectPush(`1`)
	if seen == "" {
		t.Fatal("a push carries no pos with history on")
	}
	c.nc.Close()
	waitFor(t, time.Second, func() error {
		if n := s.UserConns("alice"); n != 0 {
			return fmt.Errorf("alice has %d connections", n)
		}
		return nil
	})
	pushTo(t, s, "alice", `2`)
	pushTo(t, s, "alice", `3`)

	c, _ = dialAs(t, s, "?user=alice&resume=1", "")
	pushTo(t, s, "alice", `4`) // before the resume: held, then replayed
	c.sendJSON(`{"type":"resume","user_pos":"` + seen + `","ref":1}`)
	c.expectPush(`2`)
	c.expectPush(`3`)
	last := c.expectPush(`4`)
	c.expectJSON("ack")
	pushTo(t, s, "alice", `5`)
	if p := c.expectPush(`5`); p <= last {
		t.Fatalf("pos %s after %s", p, last)
	}
}

func TestResumeJoinsRoomsAndReplaysThem(t *testing.T) {
	s := startServer(t, historyConfig())
	c, _ := dialAs(t, s, "?user=bob", "")
	c.sendJSON(`{"type":"join","room":"chat","ref":1}`)
	c.expectJSON("ack")
	if _, err := s.Publish(context.Background(), "chat", json.RawMessage(`"a"`)); err != nil {
		t.Fatal(err)
	}
	seen := c.expectPush(`"a"`)
	c.nc.Close()
	waitFor(t, time.Second, func() error {
		if s.pool.Room("chat") != nil {
			return fmt.Errorf("chat still has members")
		}
		return nil
	})
	// Nobody is in the room, but its stream keeps the messages.
	for _, d := range []string{`"b"`, `"c"`} {
		if _, err := s.Publish(context.Background(), "chat", json.RawMessage(d)); err != nil {
			t.Fatal(err)
		}
	}
	c, _ = dialAs(t, s, "?user=bob&resume=1", "")
	c.sendJSON(`{"type":"resume","rooms":{"chat":"` + seen + `"},"ref":2}`)
	c.expectPush(`"b"`)
	c.expectPush(`"c"`)
	c.expectJSON("ack")
	if _, err := s.Publish(context.Background(), "chat", json.RawMessage(`"d"`)); err != nil {
		t.Fatal(err)
	}
	c.expectPush(`"d"`)
}

func TestResumeTooFarBackGetsAGap(t *testing.T) {
	cfg := historyConfig()
	cfg.HistorySize = 2
	s := startServer(t, cfg)
	c, _ := dialAs(t, s, "?user=carol", "")
	pushTo(t, s, "carol", `1`)
	seen := c.expectPush(`1`)
	c.nc.Close()
	for _, d := range []string{`2`, `3`, `4`} {
		pushTo(t, s, "carol", d)
	}
	c, _ = dialAs(t, s, "?user=carol&resume=1", "")
	c.sendJSON(`{"type":"resume","user_pos":"` + seen + `","ref":1}`)
	g := c.expectJSON("gap")
	if _, room := g["room"]; room || g["pos"] == nil {
		t.Fatalf("gap %v", g)
	}
	c.expectJSON("ack")
	pushTo(t, s, "carol", `5`)
	c.expectPush(`5`)
	if s.gaps.Load() != 1 {
		t.Fatalf("gaps counted %d", s.gaps.Load())
	}
}

func TestResumeWithoutHistoryIsRefused(t *testing.T) {
	s := startServer(t, Config{})
	c, _ := dialAs(t, s, "?user=dan&resume=1", "")
	c.sendJSON(`{"type":"resume","user_pos":"1-0","ref":1}`)
	if e := c.expectJSON("error"); e["code"] != codeNoHistory {
		t.Fatalf("error %v", e)
	}
	pushTo(t, s, "dan", `1`)
	if p := c.expectPush(`1`); p != "" {
		t.Fatalf("pos %q without history", p)
	}
}

func TestBadResumesGetErrors(t *testing.T) {
	s := startServer(t, historyConfig())
	c, _ := dialAs(t, s, "?user=erin", "")
	for _, req := range []string{
		`{"type":"resume","user_pos":"x","ref":1}`,
		`{"type":"resume","rooms":{"":"1-0"},"ref":2}`,
		`{"type":"resume","rooms":{"r":"1-x"},"ref":3}`,
	} {
		c.sendJSON(req)
		if e := c.expectJSON("error"); e["code"] != codeBadRequest {
			t.Fatalf("%s: %v", req, e)
		}
	}
}

func TestOfflineGraceKeepsPresenceAfterTheLastClose(t *testing.T) {
	s := startServer(t, Config{OfflineGrace: time.Hour})
	c, _ := dialAs(t, s, "?user=frank", "")
	if p := s.Presence("frank"); !p.Online || p.Connections != 1 {
		t.Fatalf("connected: %+v", p)
	}
	c.nc.Close()
	waitFor(t, time.Second, func() error {
		if n := s.UserConns("frank"); n != 0 {
			return fmt.Errorf("%d connections", n)
		}
		return nil
	})
	if p := s.Presence("frank"); !p.Online || p.Connections != 0 {
		t.Fatalf("closed within the grace: %+v", p)
	}
	if p := s.Presence("nobody"); p.Online {
		t.Fatalf("unknown user online")
	}
}

func TestGraceListForgetsAfterTheGrace(t *testing.T) {
	g := graceList{d: time.Second}
	t0 := time.Unix(1700000000, 0)
	g.add("a", t0)
	if !g.within("a", t0.Add(999*time.Millisecond)) || g.within("a", t0.Add(time.Second)) {
		t.Fatal("within the grace is [0, 1s)")
	}
	g.add("b", t0.Add(2*time.Second)) // sweeps a
	if n := g.left.len(); n != 1 {
		t.Fatalf("%d users remembered, want 1", n)
	}
}

// BenchmarkHistoryAdd keeps one message in one user's stream among 10,000
// users, and reports the heap a kept message costs, its shared frame
// (100 bytes of payload) apart.
func BenchmarkHistoryAdd(b *testing.B) {
	const users = 10000
	names := make([]string, users)
	for i := range names {
		names[i] = userStream("user" + strconv.Itoa(i))
	}
	frame := make([]byte, 100)
	now := time.Now()
	h := newHistory(64, time.Hour, now, 1)
	var c posClock
	before := heapInUse()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.add(names[i%users], c.next(now), frame, now)
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

// A client that asks for resume=1 and never resumes gets live messages
// again once the hold runs out.
func TestHoldWithoutResumeEndsAfterMaxHold(t *testing.T) {
	rs, s := newHold(100), &Server{}
	if !rs.skipUser(makePos(1, 0), 100, s) || !rs.skipUser(makePos(1, 0), 100+ticks(maxHold)-1, s) {
		t.Fatal("not held during the hold")
	}
	if rs.skipUser(makePos(1, 0), 100+ticks(maxHold), s) {
		t.Fatal("held past maxHold")
	}
	if s.held.Load() != 2 {
		t.Fatalf("held counted %d, want 2", s.held.Load())
	}
}

package engine

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/wire"
)

func fillDirectory(n int) *directory {
	d := newDirectory()
	for i := range n {
		d.add(&dirEntry{user: fmt.Sprintf("user-%06d", i), id: uint64(i + 1), since: int64(i),
			remote: netip.MustParseAddrPort("127.0.0.1:1000"), loop: int32(i % 4), zout: i%2 == 0})
	}
	return d
}

// Paging by prefix visits every match once, in order, and never more than
// a page and one entry per request.
func TestDirectoryPagesAPrefixInOrder(t *testing.T) {
	d := fillDirectory(5000)
	q := Query{Prefix: "user-0012", Limit: 7, Loop: -1}
	var got []string
	for pages := 0; ; pages++ {
		if pages > 20 {
			t.Fatal("paging does not end")
		}
		p, err := d.page(q, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if p.Scanned > q.Limit {
			t.Fatalf("a page of %d scanned %d entries", q.Limit, p.Scanned)
		}
		for _, c := range p.Conns {
			got = append(got, c.User)
		}
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	if len(got) != 100 || got[0] != "user-001200" || got[99] != "user-001299" {
		t.Fatalf("got %d users, %v ... ", len(got), got[:min(3, len(got))])
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("out of order at %d: %s after %s", i, got[i], got[i-1])
		}
	}
}

func TestDirectoryFiltersOldestAndBadCursor(t *testing.T) {
	d := fillDirectory(1000)
	p, err := d.page(Query{Oldest: true, Limit: 3, Loop: 2, Compression: "on"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Conns) != 3 || p.Conns[0].ID != 3 || p.Conns[1].ID != 7 || p.Total != 1000 || p.Next == "" {
		t.Fatalf("page %+v", p)
	}
	p2, _ := d.page(Query{Oldest: true, Limit: 3, Loop: 2, Compression: "on", Cursor: p.Next}, time.Now())
	if p2.Conns[0].ID != 15 {
		t.Fatalf("next page starts at %d, want 15", p2.Conns[0].ID)
	}
	// No match at all: the page stops at MaxPageScan and says so.
	d = fillDirectory(MaxPageScan + 10)
	p, _ = d.page(Query{IP: "10.0.0.1", Loop: -1}, time.Now())
	if !p.Partial || p.Scanned != MaxPageScan || p.Next == "" || len(p.Conns) != 0 {
		t.Fatalf("page %+v", p)
	}
	if _, err := d.page(Query{Cursor: "!!", Loop: -1}, time.Now()); err != ErrCursor {
		t.Fatalf("bad cursor: %v", err)
	}
	if _, err := d.page(Query{Cursor: p.Next, Oldest: true, Loop: -1}, time.Now()); err != ErrCursor {
		t.Fatalf("cursor of the other order: %v", err)
	}
}

func TestDirectoryRingKeepsTheLastClosesWithReasons(t *testing.T) {
	d := fillDirectory(10)
	d.setDetail("user-000003", 4, "support asked")
	d.remove("user-000003", 4, wire.ReasonKicked, time.Now())
	d.remove("user-000005", 6, wire.ReasonPeerGone, time.Now())
	d.remove("nobody", 99, wire.ReasonPeerGone, time.Now())
	r := d.recent("", 10)
	if len(r) != 2 || r[0].User != "user-000005" || r[1].Code != 4500 || r[1].Detail != "support asked" || r[1].Reason != "kicked" {
		t.Fatalf("recent %+v", r)
	}
	if u := d.user("user-000003"); len(u) != 0 {
		t.Fatalf("closed connection still listed: %+v", u)
	}
	for i := range ClosedRing + 5 {
		d.add(&dirEntry{user: "u", id: uint64(100 + i)})
		d.remove("u", uint64(100+i), wire.ReasonPeerClose, time.Now())
	}
	if r := d.recent("u", ClosedRing*2); len(r) != ClosedRing || r[0].ID != uint64(100+ClosedRing+4) {
		t.Fatalf("ring holds %d, newest %d", len(r), r[0].ID)
	}
}

func TestQueryParam(t *testing.T) {
	q := []byte("user=a&platform=wx%20mini&sdk=1.2.0")
	if got := queryParam(q, "platform"); got != "wx mini" {
		t.Fatal(got)
	}
	if got := queryParam(q, "sdk"); got != "1.2.0" {
		t.Fatal(got)
	}
	if got := queryParam(q, "none"); got != "" {
		t.Fatal(got)
	}
}

// A page of 50 users by prefix and a filtered page, at 100,000 connections.
func BenchmarkDirectoryPage(b *testing.B) {
	d := fillDirectory(100000)
	b.Run("prefix", func(b *testing.B) {
		for b.Loop() {
			if p, _ := d.page(Query{Prefix: "user-0777", Limit: 50, Loop: -1}, time.Now()); len(p.Conns) != 50 {
				b.Fatal(len(p.Conns))
			}
		}
	})
	b.Run("deep-cursor", func(b *testing.B) {
		p, _ := d.page(Query{Prefix: "user-09", Limit: 500, Loop: -1}, time.Now())
		for b.Loop() {
			if p, _ := d.page(Query{Prefix: "user-09", Limit: 50, Loop: -1, Cursor: p.Next}, time.Now()); len(p.Conns) != 50 {
				b.Fatal(len(p.Conns))
			}
		}
	})
	b.Run("filtered", func(b *testing.B) {
		for b.Loop() {
			if p, _ := d.page(Query{Limit: 50, Loop: 3, Compression: "off"}, time.Now()); len(p.Conns) != 50 {
				b.Fatal(len(p.Conns))
			}
		}
	})
	b.Run("add-remove", func(b *testing.B) {
		i := uint64(1 << 40)
		for b.Loop() {
			i++
			d.add(&dirEntry{user: "bench", id: i})
			d.remove("bench", i, wire.ReasonPeerClose, time.Time{})
		}
	})
}

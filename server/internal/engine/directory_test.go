package engine

import (
	"fmt"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/wspush/wspush/pool"
	"github.com/wspush/wspush/server/internal/wire"
)

// sideConn stands for a connection in the directory's tests: its remote
// address and compression, as a conn gives them.
type sideConn struct {
	remote netip.AddrPort
	zout   bool
}

func (sideConn) Send([]byte) error                 { return nil }
func (c sideConn) dirSide() (netip.AddrPort, bool) { return c.remote, c.zout }

// dirConns is a directory and the sessions it holds, numbered 1 to n by
// a pool of 4 loops: user-%06d of i-1 on loop (i-1)%4, compressed for odd
// ids.
type dirConns struct {
	*directory
	pool  *pool.Pool
	conns []*session
}

func fillDirectory(n int) *dirConns {
	d := &dirConns{directory: newDirectory(4, nil), pool: pool.New(pool.Config{Shards: 4})}
	for i := range n {
		d.open(fmt.Sprintf("user-%06d", i), i%4, i%2 == 0, time.Unix(0, int64(i)))
	}
	return d
}

func (d *dirConns) open(user string, loop int, zout bool, since time.Time) *session {
	ss := &session{}
	ss.m.User = user
	ss.m.Conn = sideConn{remote: netip.MustParseAddrPort("127.0.0.1:1000"), zout: zout}
	d.pool.Add(&ss.m, loop)
	d.add(ss, clientTags{}, since)
	d.conns = append(d.conns, ss)
	return ss
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
	d.setDetail(&d.conns[3].m, "support asked")
	d.remove(d.conns[3], wire.ReasonKicked, time.Now())
	d.remove(d.conns[5], wire.ReasonPeerGone, time.Now())
	d.remove(&session{m: pool.Key("nobody", 99)}, wire.ReasonPeerGone, time.Now())
	r := d.recent("", 10)
	if len(r) != 2 || r[0].User != "user-000005" || r[1].Code != 4500 || r[1].Detail != "support asked" || r[1].Reason != "kicked" {
		t.Fatalf("recent %+v", r)
	}
	if u := d.user("user-000003"); len(u) != 0 {
		t.Fatalf("closed connection still listed: %+v", u)
	}
	var newest uint64
	for i := range ClosedRing + 5 {
		ss := d.open("u", i%4, false, time.Now())
		d.remove(ss, wire.ReasonPeerClose, time.Now())
		newest = ss.m.ID()
	}
	if r := d.recent("u", ClosedRing*2); len(r) != ClosedRing || r[0].ID != newest {
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
	if p, sdk := clientParams(q); p != "wx mini" || sdk != "1.2.0" {
		t.Fatal(p, sdk)
	}
	if p, sdk := clientParams([]byte("user=u1&sdk=2")); p != "" || sdk != "2" {
		t.Fatal(p, sdk)
	}
	if p, sdk := clientParams([]byte("user=platform")); p != "" || sdk != "" {
		t.Fatal(p, sdk)
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
		for b.Loop() {
			ss := &session{}
			ss.m.User = "bench"
			d.pool.Add(&ss.m, 1)
			d.add(ss, clientTags{}, time.Time{})
			d.remove(ss, wire.ReasonPeerClose, time.Time{})
			d.pool.Remove(&ss.m)
		}
	})
}

// After closes, the oldest-first pages and lookups by id see exactly the
// connections still open, in id order across the loops, and the id order
// gives back the slots of the closed ones.
func TestDirectoryChurnKeepsIDOrderCompact(t *testing.T) {
	d := fillDirectory(2000)
	open := map[uint64]bool{}
	for i, ss := range d.conns {
		if i%10 == 3 {
			open[ss.m.ID()] = true
			continue
		}
		d.remove(ss, wire.ReasonPeerGone, time.Now())
	}
	var got []uint64
	q := Query{Oldest: true, Limit: 37, Loop: -1}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		p, err := d.page(q, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != len(open) {
			t.Fatalf("total %d, want %d", p.Total, len(open))
		}
		for _, c := range p.Conns {
			got = append(got, c.ID)
		}
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	if len(got) != len(open) {
		t.Fatalf("paged %d connections, %d open", len(got), len(open))
	}
	for i, id := range got {
		if !open[id] || i > 0 && id <= got[i-1] {
			t.Fatalf("entry %d: id %d (open %v) after %v", i, id, open[id], got[max(i-1, 0)])
		}
	}
	for i, ss := range d.conns {
		r, ok := d.get(ss.m.ID())
		if ok != open[ss.m.ID()] || ok && (r.user != ss.m.User || r.loop != int32(i%4)) {
			t.Fatalf("get(%d) = %+v, %v", ss.m.ID(), r, ok)
		}
	}
	slots := 0
	for i := range d.parts {
		slots += len(d.parts[i].byID)
	}
	if slots > 2*len(open)+4*64 {
		t.Fatalf("%d slots kept for %d connections", slots, len(open))
	}
}

// Connections that say the same platform and SDK share their tags, up to
// MaxTags pairs a loop; one with a proxy's address has its own.
func TestDirectorySharesClientTags(t *testing.T) {
	d := newDirectory(1, nil)
	p := pool.New(pool.Config{Shards: 1})
	add := func(tags clientTags) *clientTags {
		ss := &session{}
		ss.m.User = "u"
		p.Add(&ss.m, 0)
		d.add(ss, tags, time.Now())
		return d.parts[0].slot(ss.m.ID()).tags
	}
	if add(clientTags{}) != nil {
		t.Fatal("no tags said, tags kept")
	}
	a, b := add(clientTags{platform: "wx", sdk: "1.2"}), add(clientTags{platform: "wx", sdk: "1.2"})
	if a != b || a.platform != "wx" {
		t.Fatalf("%p %p %+v", a, b, a)
	}
	if c := add(clientTags{ip: "10.1.1.1", platform: "wx", sdk: "1.2"}); c == a || c.ip != "10.1.1.1" {
		t.Fatalf("proxy address shared: %+v", c)
	}
	for i := range MaxTags + 10 {
		add(clientTags{platform: "p", sdk: strconv.Itoa(i)})
	}
	if n := len(d.parts[0].tags); n != MaxTags {
		t.Fatalf("%d shared pairs, cap %d", n, MaxTags)
	}
	if x, y := add(clientTags{sdk: "past"}), add(clientTags{sdk: "past"}); x == y || x.sdk != "past" {
		t.Fatal("a pair past the cap is shared")
	}
	if u := d.user("u"); len(u) != MaxTags+16 || u[3].IP != "10.1.1.1" || u[1].Platform != "wx" {
		t.Fatalf("%d conns of u: %+v", len(u), u[:4])
	}
}

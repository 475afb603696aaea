package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/redistest"
	"github.com/wspush/wspush/server/internal/wire"
	"github.com/wspush/wspush/server/internal/wstest"
)

// fakeDir is one node's directory for Merge: connections in (user, id)
// order, paged as the engine pages, with a scan cap.
type fakeDir struct {
	conns []wire.ConnInfo
	// match keeps a connection (an exact filter); scanCap is the
	// engine's MaxPageScan.
	match   func(wire.ConnInfo) bool
	scanCap int
}

// testCursor is the (user, id) position of c, in an order strings keep.
func testCursor(c wire.ConnInfo, _ bool) string { return fmt.Sprintf("%s/%03d", c.User, c.ID) }

func (d fakeDir) page(from string, limit int) wire.ConnPage {
	start := 0
	if from != "" {
		for start < len(d.conns) && testCursor(d.conns[start], false) <= from {
			start++
		}
	}
	p := wire.ConnPage{Conns: []wire.ConnInfo{}, Total: len(d.conns), Taken: time.Unix(1, 0)}
	i := start
	for ; i < len(d.conns); i++ {
		p.Scanned++
		if d.match == nil || d.match(d.conns[i]) {
			p.Conns = append(p.Conns, d.conns[i])
			if len(p.Conns) == limit {
				break
			}
		}
		if d.scanCap > 0 && p.Scanned >= d.scanCap {
			p.Partial = len(p.Conns) < limit
			break
		}
	}
	if i < len(d.conns)-1 {
		p.Next = testCursor(d.conns[i], false)
	}
	return p
}

// Paging through Merge's pages shows every connection of every node once,
// in (user, node, id) order, whatever the page size, with a node whose
// matches are sparse (its pages stop at the scan cap, some empty).
func TestMergeShowsEveryConnectionOnceInOrder(t *testing.T) {
	dirs := map[string]fakeDir{}
	want := 0
	for k, node := range []string{"a", "b", "c"} {
		var d fakeDir
		for i := range 40 {
			d.conns = append(d.conns, wire.ConnInfo{ID: uint64(i + 1), User: fmt.Sprintf("u%03d", i*(k+1)%97)})
		}
		// In (user, id) order, as the directory is.
		for i := range d.conns {
			for j := i + 1; j < len(d.conns); j++ {
				if d.conns[j].User < d.conns[i].User {
					d.conns[i], d.conns[j] = d.conns[j], d.conns[i]
				}
			}
		}
		if node == "c" {
			d.match = func(c wire.ConnInfo) bool { return c.ID%9 == 0 }
			d.scanCap = 3
			want += 4
		} else {
			want += 40
		}
		dirs[node] = d
	}
	for _, limit := range []int{1, 3, 7, 500} {
		pos := map[string]string{}
		var seen []wire.ConnInfo
		for pages := 0; ; pages++ {
			got := map[string]wire.ConnPage{}
			for n, d := range dirs {
				if pos[n] != done {
					got[n] = d.page(pos[n], limit)
				}
			}
			p := Merge(got, pos, limit, false, testCursor)
			if len(p.Conns) > limit {
				t.Fatalf("limit %d: a page of %d", limit, len(p.Conns))
			}
			seen = append(seen, p.Conns...)
			if p.Next == "" {
				break
			}
			if pages > 1000 {
				t.Fatalf("limit %d: paging does not end", limit)
			}
			var err error
			if pos, err = cursors(p.Next); err != nil {
				t.Fatal(err)
			}
		}
		if len(seen) != want {
			t.Fatalf("limit %d: %d connections shown, want %d", limit, len(seen), want)
		}
		for i := 1; i < len(seen); i++ {
			a, b := seen[i-1], seen[i]
			if a.User > b.User || a.User == b.User && (a.Node > b.Node || a.Node == b.Node && a.ID >= b.ID) {
				t.Fatalf("limit %d: %+v before %+v", limit, a, b)
			}
		}
	}
}

// dirInspector answers asks from a sorted fakeDir, finding the cursor's
// place by binary search as the B-tree would.
type dirInspector struct{ d fakeDir }

func (i dirInspector) Page(q wire.ConnQuery) (wire.ConnPage, error) {
	cs := i.d.conns
	from := sort.Search(len(cs), func(k int) bool { return q.Cursor == "" || testCursor(cs[k], false) > q.Cursor })
	from = max(from, sort.Search(len(cs), func(k int) bool { return cs[k].User >= q.Prefix }))
	p := wire.ConnPage{Conns: []wire.ConnInfo{}, Total: len(cs), Taken: time.Now()}
	for k := from; k < len(cs) && len(p.Conns) < q.Limit && strings.HasPrefix(cs[k].User, q.Prefix); k++ {
		p.Conns = append(p.Conns, cs[k])
		p.Scanned++
	}
	if n := len(p.Conns); n > 0 && from+n < len(cs) && strings.HasPrefix(cs[from+n].User, q.Prefix) {
		p.Next = testCursor(p.Conns[n-1], false)
	}
	return p, nil
}
func (dirInspector) ConnDetail(context.Context, uint64) (wire.ConnDetail, error) {
	return wire.ConnDetail{}, wire.ErrNoConn
}
func (dirInspector) Disconnect(context.Context, uint64, string) error { return wire.ErrNoConn }
func (dirInspector) Cursor(c wire.ConnInfo, oldest bool) string       { return testCursor(c, oldest) }

// BenchmarkClusterPage pages through 100,000 connections on three nodes
// (a third each) from node a: one op is one page of 50, asked of b and c
// over Redis and merged with a's.
func BenchmarkClusterPage(b *testing.B) {
	r := redistest.Start(b)
	dirs := map[string]dirInspector{}
	var nodes []*Cluster
	for k, n := range []string{"a", "b", "c"} {
		var d fakeDir
		for i := range 33334 {
			d.conns = append(d.conns, wire.ConnInfo{ID: uint64(i + 1), User: fmt.Sprintf("user-%06d", i*3+k)})
		}
		dirs[n] = dirInspector{d}
		cl := startCluster(b, r, n, newFake(), Config{Secret: "bench-secret"})
		cl.SetInspector(dirs[n])
		nodes = append(nodes, cl)
	}
	a := nodes[0]
	ctx := context.Background()
	wstest.WaitFor(b, 10*time.Second, func() error {
		if o, err := a.others(ctx); err != nil || len(o) != 2 {
			return fmt.Errorf("others %v %v", o, err)
		}
		return nil
	})
	r.WaitSubs("wspush:c", 3)
	b.ResetTimer()
	cursor, rows := "", 0
	for range b.N {
		p, err := a.Page(ctx, wire.ConnQuery{Prefix: "user-", Limit: 50, Cursor: cursor}, dirs["a"])
		if err != nil || len(p.Missing) != 0 || len(p.Conns) != 50 {
			b.Fatalf("page: %v, missing %v, %d rows", err, p.Missing, len(p.Conns))
		}
		rows += len(p.Conns)
		if cursor = p.Next; rows >= 99000 {
			cursor, rows = "", 0
		}
	}
}

package server

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/cluster"
)

// clusterRow is a row of the console's connections page.
type clusterRow struct {
	ID       uint64
	Ref      string
	User     string
	Node     string
	Platform string
}

type clusterPage struct {
	Connections []clusterRow
	Next        string
	Total       int
	Missing     []string
	Taken       time.Time
}

// walk pages through the console's connections with query q, limit rows a
// page, and returns the rows and each page's missing nodes.
func walk(t *testing.T, c *consoleClient, q string, limit int) ([]clusterRow, [][]string) {
	t.Helper()
	var rows []clusterRow
	var missing [][]string
	cursor := ""
	for pages := 0; ; pages++ {
		var p clusterPage
		if st := c.do("GET", fmt.Sprintf("/console/api/connections?%s&limit=%d&cursor=%s", q, limit, url.QueryEscape(cursor)), "", &p); st != 200 {
			t.Fatalf("page: %d", st)
		}
		if p.Taken.IsZero() || p.Missing == nil {
			t.Fatalf("page without its time or its missing nodes: %+v", p)
		}
		rows = append(rows, p.Connections...)
		missing = append(missing, p.Missing)
		if p.Next == "" {
			return rows, missing
		}
		if pages > 50 {
			t.Fatal("paging does not end")
		}
		cursor = p.Next
	}
}

// The connections page of one node's console spans the cluster: the
// other nodes answer from their own directories, merged in (user, node,
// id) order with a cursor of every node's position; a connection on
// another node opens and disconnects from here; a node that does not
// answer is named, and its position kept for when it does again.
func TestConsoleConnectionsSpanTheCluster(t *testing.T) {
	r := startRedis(t)
	cfg := func() Config {
		return Config{APIAddr: "127.0.0.1:0", APIKey: testAPIKey, Console: ConsoleConfig{Key: consoleKey}}
	}
	a := startNode(t, r, "node-a", cfg())
	b := startNode(t, r, "node-b", cfg())
	cn := startNode(t, r, "node-c", cfg())
	want := map[string]string{} // "user@node" of every connection dialed with the prefix u-
	dialOn := func(s *Server, node, user, query string) *client {
		cl, _ := dialAs(t, s, "?user="+user+query, "")
		want[user+"@"+node] += "x"
		return cl
	}
	for i := range 9 {
		dialOn(a, "node-a", fmt.Sprintf("u-%02d", i*2), "")
		dialOn(b, "node-b", fmt.Sprintf("u-%02d", i*2+1), "&platform=wx")
	}
	for i := range 4 {
		dialOn(cn, "node-c", fmt.Sprintf("u-c%d", i), "")
	}
	onB := dialOn(b, "node-b", "u-both", "")
	dialOn(a, "node-a", "u-both", "")
	dialAs(t, b, "?user=other", "") // not in the prefix
	r.waitSubs("wspush:c", 3)
	c := consoleLogin(t, a, consoleKey)

	waitFor(t, 10*time.Second, func() error {
		var p clusterPage
		c.do("GET", "/console/api/connections?limit=1", "", &p)
		if p.Total != len(want)+1 || len(p.Missing) != 0 {
			return errorf("page %+v, want %d connections", p, len(want)+1)
		}
		return nil
	})

	rows, missing := walk(t, c, "prefix=u-", 4)
	got := map[string]string{}
	refs := map[string]bool{}
	for i, row := range rows {
		if i > 0 {
			p := rows[i-1]
			if p.User > row.User || p.User == row.User && (p.Node > row.Node || p.Node == row.Node && p.ID >= row.ID) {
				t.Fatalf("out of (user, node, id) order: %+v before %+v", p, row)
			}
		}
		if row.Ref != fmt.Sprintf("c%d@%s", row.ID, row.Node) || refs[row.Ref] {
			t.Fatalf("ref %q of %+v: not unique, or not the id at the node", row.Ref, row)
		}
		refs[row.Ref] = true
		got[row.User+"@"+row.Node] += "x"
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pages show\n%v\nwant\n%v", got, want)
	}
	for _, m := range missing {
		if len(m) != 0 {
			t.Fatalf("missing %v with every node answering", m)
		}
	}

	// An exact filter goes to every node: only b's clients sent wx.
	rows, _ = walk(t, c, "prefix=u-&platform=wx", 50)
	if len(rows) != 9 {
		t.Fatalf("platform=wx: %d rows", len(rows))
	}
	for _, row := range rows {
		if row.Node != "node-b" || row.Platform != "wx" {
			t.Fatalf("platform=wx: %+v", row)
		}
	}

	// The details of b's connection of u-both, read through a, and a
	// disconnect with a reason that b's client reads.
	rows, _ = walk(t, c, "prefix=u-both", 50)
	i := slices.IndexFunc(rows, func(r clusterRow) bool { return r.Node == "node-b" })
	if len(rows) != 2 || i < 0 {
		t.Fatalf("u-both: %+v", rows)
	}
	var d struct {
		Ref, User, Node string
		Rooms           []string
		QueuedBytes     *int64 `json:"queued_bytes"`
	}
	if st := c.do("GET", "/console/api/connections/"+url.PathEscape(rows[i].Ref), "", &d); st != 200 ||
		d.User != "u-both" || d.Node != "node-b" || d.Ref != rows[i].Ref || d.Rooms == nil || d.QueuedBytes == nil {
		t.Fatalf("details of %s: %d %+v", rows[i].Ref, st, d)
	}
	var e struct{ Error string }
	if st := c.do("GET", fmt.Sprintf("/console/api/connections/c%d@node-b", rows[i].ID+1000), "", &e); st != 404 || e.Error != "not_found" {
		t.Fatalf("a connection b does not have: %d %+v", st, e)
	}
	var closed struct{ Closed int }
	if st := c.do("POST", "/console/api/connections/"+url.PathEscape(rows[i].Ref)+"/disconnect", `{"reason":"from a's console"}`, &closed); st != 200 || closed.Closed != 1 {
		t.Fatalf("disconnect: %d %+v", st, closed)
	}
	if got := onB.ExpectClose(4500); got != "from a's console" {
		t.Fatalf("b's client read %q", got)
	}
	delete(want, "u-both@node-b")
	waitFor(t, 5*time.Second, func() error {
		if rows, _ := walk(t, c, "prefix=u-both", 50); len(rows) != 1 {
			return errorf("u-both after the disconnect: %+v", rows)
		}
		return nil
	})

	// c stops answering (as a stopped process would: its heartbeat is
	// still fresh): the pages come without its connections, name it, and
	// keep its position; once it answers again, the walk goes on with it.
	ccl := cn.b.(*cluster.Cluster)
	ccl.SetInspector(nil)
	var p clusterPage
	if st := c.do("GET", "/console/api/connections?prefix=u-&limit=500", "", &p); st != 200 ||
		fmt.Sprint(p.Missing) != "[node-c]" || len(p.Connections) != len(want)-4 {
		t.Fatalf("with c silent: %d missing %v, %d rows", st, p.Missing, len(p.Connections))
	}
	for _, row := range p.Connections {
		if row.Node == "node-c" {
			t.Fatalf("a row of the silent node: %+v", row)
		}
	}
	if p.Next == "" {
		t.Fatal("no next page with c's position kept")
	}
	if st := c.do("GET", "/console/api/connections/c1@node-c", "", &e); st != 503 || e.Error != "no_answer" {
		t.Fatalf("details on the silent node: %d %+v", st, e)
	}
	mreq := httptest.NewRequest("GET", "http://127.0.0.1/metrics", nil)
	mreq.Header.Set("Authorization", "Bearer "+testAPIKey)
	mw := httptest.NewRecorder()
	a.APIHandler().ServeHTTP(mw, mreq)
	if body := mw.Body.String(); !strings.Contains(body, "wspush_cluster_inspect_missing_total 2") {
		t.Fatalf("a's metrics do not count the two asks c did not answer:\n%s", grepLines(body, "inspect"))
	}
	ccl.SetInspector(cn.eng)
	var rest clusterPage
	if st := c.do("GET", "/console/api/connections?prefix=u-&limit=500&cursor="+url.QueryEscape(p.Next), "", &rest); st != 200 ||
		len(rest.Missing) != 0 || len(rest.Connections) != 4 || rest.Next != "" {
		t.Fatalf("after c is back: %d %+v", st, rest)
	}
	for _, row := range rest.Connections {
		if row.Node != "node-c" || !strings.HasPrefix(row.User, "u-c") {
			t.Fatalf("after c is back: %+v", row)
		}
	}

	// A cursor that is not a page's next is refused.
	if st := c.do("GET", "/console/api/connections?cursor=bm90LWpzb24", "", &e); st != 400 || e.Error != "bad_cursor" {
		t.Fatalf("bad cursor: %d %+v", st, e)
	}
}

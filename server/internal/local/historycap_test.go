package local

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wspush/wspush/server/internal/engine"
	"github.com/wspush/wspush/server/internal/wire"
)

// stats is the history's part of /v1/stats.
func (n *node) stats(t *testing.T) wire.Stats {
	t.Helper()
	var st wire.Stats
	n.b.Report(&st)
	if st.History == nil {
		t.Fatal("no history figures with a history")
	}
	return st
}

// metrics is the text of the broker's collectors as /metrics serves them.
func (n *node) metrics(t *testing.T) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	for _, c := range n.b.Collectors() {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	w := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	return w.Body.String()
}

// A client cannot make the history keep what nobody can read: sends to
// users never seen and publishes to rooms without members keep nothing,
// and the stats and metrics show what is kept (issue: 354 sends of 32 KiB
// to ghost users grew the heap by 25 MiB, and 50 clients publishing to
// empty rooms held 178 MiB invisibly).
func TestHistoryKeepsNothingForGhostsOrEmptyRooms(t *testing.T) {
	n := startNode(t, Config{HistorySize: 16, HistoryTTL: 10 * time.Minute}, engine.Config{MaxRate: -1}, 0)
	c := n.dial(t, "mallory", "")
	pad := strings.Repeat("x", 30<<10)
	for i := range 50 {
		c.SendJSON(`{"type":"send","to":"ghost-` + strconv.Itoa(i) + `","data":"` + pad + `","ref":` + strconv.Itoa(2*i) + `}`)
		c.ExpectJSON("ack")
		c.SendJSON(`{"type":"publish","room":"empty-` + strconv.Itoa(i) + `","data":"` + pad + `","ref":` + strconv.Itoa(2*i+1) + `}`)
		c.ExpectJSON("ack")
	}
	if st := n.stats(t); st.History.Streams != 0 || st.History.Bytes != 0 {
		t.Fatalf("history after sends to ghosts and empty rooms: %+v", st.History)
	}
	// What can be read is kept: a user who was here, a room the backend
	// publishes to.
	c.SendJSON(`{"type":"send","to":"mallory","data":1}`)
	c.ExpectJSON("push")
	n.publish(t, "news", `2`)
	if st := n.stats(t); st.History.Streams != 2 || st.History.Entries != 2 {
		t.Fatalf("history after a send to a connected user and a backend publish: %+v", st.History)
	}
	metrics := n.metrics(t)
	for _, m := range []string{"wspush_history_streams 2", "wspush_history_bytes ", "wspush_history_evicted_total 0"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metrics lack %q", m)
		}
	}
}

// Past HistoryMaxBytes the oldest messages go, counted, and a resume from
// before them gets a gap; the bytes stay under the cap.
func TestHistoryMaxBytesEvictsTheOldest(t *testing.T) {
	const capBytes = 64 << 10
	n := startNode(t, Config{HistorySize: 1000, HistoryTTL: 10 * time.Minute, HistoryMaxBytes: capBytes}, engine.Config{}, 0)
	c := n.dial(t, "al", "")
	pad := strings.Repeat("y", 1<<10)
	first := ""
	for i := range 200 {
		if _, err := n.b.Push(context.Background(), "", []string{"al"}, json.RawMessage(`"`+pad+`"`), ""); err != nil {
			t.Fatal(err)
		}
		if p := c.ExpectPush(`"` + pad + `"`); i == 0 {
			first = p
		}
	}
	if st := n.stats(t); st.History.Bytes > capBytes || st.History.Evicted == 0 || st.History.Entries >= 200 {
		t.Fatalf("history %+v, want at most %d bytes and evictions", st.History, capBytes)
	}
	c.NC.Close()
	r := n.dial(t, "al", "&resume=1")
	r.SendJSON(fmt.Sprintf(`{"type":"resume","user_pos":%q,"ref":1}`, first))
	if g := r.ExpectJSON("gap"); g["pos"] == nil {
		t.Fatalf("gap without a position: %v", g)
	}
}

// Without a history the broker reports and exports nothing of one.
func TestNoHistoryReportsNothing(t *testing.T) {
	b := New(Config{HistorySize: 10})
	var st wire.Stats
	b.Report(&st)
	if st.History != nil || b.Collectors() != nil || b.Store() != nil {
		t.Fatalf("a zero HistoryTTL keeps a history: %+v", st.History)
	}
}

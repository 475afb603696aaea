package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A client cannot make the history keep what nobody can read: sends to
// users never seen and publishes to rooms without members keep nothing,
// and /v1/stats and /metrics show what is kept (issue: 354 sends of 32 KiB
// to ghost users grew the heap by 25 MiB, and 50 clients publishing to
// empty rooms held 178 MiB invisibly).
func TestHistoryKeepsNothingForGhostsOrEmptyRooms(t *testing.T) {
	s := startServer(t, Config{ConnConfig: ConnConfig{MaxRate: -1}, APIAddr: "127.0.0.1:0", HistorySize: 16, HistoryTTL: 10 * time.Minute})
	api := newAPIClient(t, s, "")
	c, _ := dialAs(t, s, "?user=mallory", "")
	pad := strings.Repeat("x", 30<<10)
	for i := range 50 {
		c.SendJSON(`{"type":"send","to":"ghost-` + strconv.Itoa(i) + `","data":"` + pad + `","ref":` + strconv.Itoa(2*i) + `}`)
		c.ExpectJSON("ack")
		c.SendJSON(`{"type":"publish","room":"empty-` + strconv.Itoa(i) + `","data":"` + pad + `","ref":` + strconv.Itoa(2*i+1) + `}`)
		c.ExpectJSON("ack")
	}
	var st Stats
	api.do("GET", "/v1/stats", "", &st)
	if st.History == nil || st.History.Streams != 0 || st.History.Bytes != 0 {
		t.Fatalf("history after sends to ghosts and empty rooms: %+v", st.History)
	}
	// What can be read is kept: a user who was here, a room the backend
	// publishes to.
	c.SendJSON(`{"type":"send","to":"mallory","data":1}`)
	c.ExpectJSON("push")
	var pub struct{ Delivered int }
	api.do("POST", "/v1/rooms/news/publish", `{"data":2}`, &pub)
	api.do("GET", "/v1/stats", "", &st)
	if st.History.Streams != 2 || st.History.Entries != 2 {
		t.Fatalf("history after a send to a connected user and a backend publish: %+v", st.History)
	}
	_, _, metrics := api.call("GET", "/metrics", "")
	for _, m := range []string{"wspush_history_streams 2", "wspush_history_bytes ", "wspush_history_evicted_total 0"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metrics lack %q", m)
		}
	}
}

// Past --history-max-bytes the oldest messages go, counted, and a resume
// from before them gets a gap; the bytes stay under the cap.
func TestHistoryMaxBytesEvictsTheOldest(t *testing.T) {
	const capBytes = 64 << 10
	s := startServer(t, Config{APIAddr: "127.0.0.1:0", HistorySize: 1000, HistoryTTL: 10 * time.Minute, HistoryMaxBytes: capBytes})
	api := newAPIClient(t, s, "")
	c, _ := dialAs(t, s, "?user=al", "")
	pad := strings.Repeat("y", 1<<10)
	first := ""
	for i := range 200 {
		if _, err := s.Push(context.Background(), []string{"al"}, json.RawMessage(`"`+pad+`"`)); err != nil {
			t.Fatal(err)
		}
		if p := c.ExpectPush(`"` + pad + `"`); i == 0 {
			first = p
		}
	}
	var st Stats
	api.do("GET", "/v1/stats", "", &st)
	if st.History.Bytes > capBytes || st.History.Evicted == 0 || st.History.Entries >= 200 {
		t.Fatalf("history %+v, want at most %d bytes and evictions", st.History, capBytes)
	}
	c.NC.Close()
	r, _ := dialAs(t, s, "?user=al&resume=1", "")
	r.SendJSON(fmt.Sprintf(`{"type":"resume","user_pos":%q,"ref":1}`, first))
	if g := r.ExpectJSON("gap"); g["pos"] == nil {
		t.Fatalf("gap without a position: %v", g)
	}
}

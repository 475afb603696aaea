package history

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The metrics say what Stats says: the local broker's tests read both.
func TestCollectorExportsTheStats(t *testing.T) {
	now := time.UnixMilli(1700000000000)
	per := int64(1 + entryOverhead)
	h := NewMemory(10, time.Minute, 3*per, now, MakePos(now.UnixMilli(), 0))
	for i := range 4 {
		h.Add("u:a", MakePos(now.UnixMilli(), uint64(i+1)), []byte{byte(i)}, now)
	}
	h.Add("r:news", MakePos(now.UnixMilli(), 5), []byte{5}, now)
	st := h.Stats()
	if st.Streams != 2 || st.Evicted == 0 || st.Bytes > 3*per {
		t.Fatalf("stats %+v: want two streams under the cap, with evictions", st)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(h.Collector())
	w := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		fmt.Sprintf("wspush_history_streams %d\n", st.Streams),
		fmt.Sprintf("wspush_history_bytes %d\n", st.Bytes),
		fmt.Sprintf("wspush_history_entries %d\n", st.Entries),
		fmt.Sprintf("wspush_history_evicted_total %d\n", st.Evicted),
		"# TYPE wspush_history_evicted_total counter\n",
	} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, w.Body)
		}
	}
}

// Nothing from before the node started is known: the floor of every
// stream, kept or not, is the start, so that a resume from before it is a
// gap and one from the start itself is not.
func TestSinceIsFlooredAtTheStart(t *testing.T) {
	now := time.UnixMilli(1700000000000)
	start := MakePos(now.UnixMilli(), 0)
	h := NewMemory(10, time.Minute, 0, now, start)
	before := MakePos(now.UnixMilli()-1, 0)
	for _, stream := range []string{"u:never", "u:kept"} {
		if stream == "u:kept" {
			h.Add(stream, MakePos(now.UnixMilli(), 1), []byte{1}, now)
		}
		if r := Recover(Want{After: before}, h.Since(stream, before, now)); !r.Gap {
			t.Errorf("%s from before the start: %+v, want a gap", stream, r)
		}
		if r := Recover(Want{After: start}, h.Since(stream, start, now)); r.Gap {
			t.Errorf("%s from the start: %+v, want no gap", stream, r)
		}
	}
	if st := h.Stats(); st.Streams != 1 {
		t.Fatalf("Since made a stream: %+v", st)
	}
}

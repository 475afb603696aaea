package bench

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// TestMergeSnapshotsAcrossWorkers records latencies in two "workers",
// sends their snapshots through JSON as a worker's stdout does, and checks
// that the merge equals one histogram that saw every value.
func TestMergeSnapshotsAcrossWorkers(t *testing.T) {
	a, b, all := newHist(), newHist(), newHist()
	for i := range 1000 {
		d := time.Duration(i+1) * time.Microsecond * 7
		a.record(d)
		all.record(d)
	}
	for i := range 500 {
		d := time.Duration(i+1) * time.Millisecond
		b.record(d)
		all.record(d)
	}
	var snaps []*hdrhistogram.Snapshot
	for _, h := range []*hist{a, b} {
		js, err := json.Marshal(h.snapshot())
		if err != nil {
			t.Fatal(err)
		}
		var s hdrhistogram.Snapshot
		if err := json.Unmarshal(js, &s); err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, &s)
	}
	merged := mergeSnapshots(append(snaps, nil)...)
	want := hdrhistogram.Import(all.snapshot())
	if !merged.Equals(want) {
		t.Fatalf("merged histogram differs from one that saw every value: %+v vs %+v", summarize(merged), summarize(want))
	}
	if got := merged.TotalCount(); got != 1500 {
		t.Errorf("count %d, want 1500", got)
	}
	if got := merged.Max(); !merged.ValuesAreEquivalent(got, 500_000) {
		t.Errorf("max %d µs, want 500000", got)
	}
}

func TestHistClampsOutOfRange(t *testing.T) {
	h := newHist()
	h.record(0)
	h.record(-time.Second)
	h.record(time.Hour)
	s := hdrhistogram.Import(h.snapshot())
	if s.TotalCount() != 3 {
		t.Fatalf("count %d, want 3: out-of-range values must still count", s.TotalCount())
	}
	if !s.ValuesAreEquivalent(s.Max(), histMax) {
		t.Errorf("max %d, want the clamp %d", s.Max(), histMax)
	}
}

func TestSummarizeEmptyIsNil(t *testing.T) {
	if l := summarize(mergeSnapshots()); l != nil {
		t.Fatalf("summary of nothing = %+v, want nil", l)
	}
}

func TestMergeBroadcastTakesSlowestWorker(t *testing.T) {
	r := &Result{Broadcast: &BroadcastStats{Count: 2}}
	r.merge([]partial{
		{Upgraded: 3, Received: 4, Bcast: []bcastCount{{N: 3, MaxUS: 900}, {N: 1, MaxUS: 100}}},
		{Upgraded: 2, Received: 3, Bcast: []bcastCount{{N: 2, MaxUS: 2000}, {N: 1, MaxUS: 50}}},
	})
	if r.Conns.Upgraded != 5 || r.Messages.Received != 7 || r.Broadcast.Receivers != 7 {
		t.Fatalf("upgraded %d received %d receivers %d, want 5 7 7", r.Conns.Upgraded, r.Messages.Received, r.Broadcast.Receivers)
	}
	l := r.Broadcast.LastReceiver
	if l == nil || l.Count != 2 || l.Max != 2.0 || l.Min != 0.1 {
		t.Fatalf("last receiver %+v, want 2 broadcasts, slowest 2ms, fastest 0.1ms", l)
	}
}

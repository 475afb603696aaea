package bench

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histograms record microseconds from 1 µs to 10 minutes with three
// significant digits, so that every worker's histogram has the same layout
// and merges without loss.
const (
	histMin    = 1
	histMax    = int64(10 * time.Minute / time.Microsecond)
	histDigits = 3
)

// hist is a latency histogram that event loops record into concurrently.
type hist struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

func newHist() *hist {
	return &hist{h: hdrhistogram.New(histMin, histMax, histDigits)}
}

// record adds one latency. Values past the range are clamped to it, so a
// stalled message still counts as a (very) slow one.
func (h *hist) record(d time.Duration) {
	us := min(max(d.Microseconds(), histMin), histMax)
	h.mu.Lock()
	_ = h.h.RecordValue(us)
	h.mu.Unlock()
}

// snapshot exports the histogram for another process to merge.
func (h *hist) snapshot() *hdrhistogram.Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.h.Export()
}

// mergeSnapshots merges the workers' snapshots into one histogram. Nil
// snapshots are skipped; the result is never nil.
func mergeSnapshots(snaps ...*hdrhistogram.Snapshot) *hdrhistogram.Histogram {
	out := hdrhistogram.New(histMin, histMax, histDigits)
	for _, s := range snaps {
		if s != nil {
			out.Merge(hdrhistogram.Import(s))
		}
	}
	return out
}

// Latency summarizes a latency distribution in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	Min   float64 `json:"min_ms"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// summarize returns h's percentiles, or nil for an empty histogram.
func summarize(h *hdrhistogram.Histogram) *Latency {
	if h.TotalCount() == 0 {
		return nil
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return &Latency{
		Count: h.TotalCount(),
		Min:   ms(h.Min()),
		Mean:  float64(int64(h.Mean())) / 1000,
		P50:   ms(h.ValueAtQuantile(50)),
		P90:   ms(h.ValueAtQuantile(90)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		Max:   ms(h.Max()),
	}
}

package bench

import (
	"sync"
	"time"
)

// The timeline: the fleet's counters sampled during a run, for the
// report's charts of connections and throughput over time. It is bounded:
// past maxSamples it keeps every other sample and samples half as often,
// so a run of hours costs as much memory as a run of minutes.
const (
	timelineEvery = 100 * time.Millisecond
	maxSamples    = 2048
)

// sample is the fleet's counters at T seconds since the run started.
type sample struct {
	T float64
	progress
}

// phaseMark is the start of a phase, T seconds since the run started.
type phaseMark struct {
	Name string  `json:"name"`
	T    float64 `json:"t"`
}

type timeline struct {
	start time.Time

	mu      sync.Mutex
	every   time.Duration
	samples []sample
	phases  []phaseMark
}

func newTimeline(start time.Time) *timeline {
	return &timeline{start: start, every: timelineEvery}
}

// phase marks the start of a phase.
func (tl *timeline) phase(name string) {
	tl.mu.Lock()
	tl.phases = append(tl.phases, phaseMark{name, time.Since(tl.start).Seconds()})
	tl.mu.Unlock()
}

// add records p now.
func (tl *timeline) add(p progress) {
	tl.addAt(time.Since(tl.start), p)
}

func (tl *timeline) addAt(d time.Duration, p progress) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.samples = append(tl.samples, sample{d.Seconds(), p})
	if len(tl.samples) >= maxSamples {
		kept := tl.samples[:0]
		for i := 0; i < len(tl.samples); i += 2 {
			kept = append(kept, tl.samples[i])
		}
		tl.samples = kept
		tl.every *= 2
	}
}

// interval is how often the sampler samples now.
func (tl *timeline) interval() time.Duration {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.every
}

// run samples fl until the returned func is called, which takes a last
// sample.
func (tl *timeline) run(fl fleet) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	tl.add(fl.progress())
	wg.Go(func() {
		t := time.NewTimer(tl.interval())
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				tl.add(fl.progress())
				t.Reset(tl.interval())
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		tl.add(fl.progress())
	}
}

// snapshot returns copies of the samples and the phases.
func (tl *timeline) snapshot() ([]sample, []phaseMark) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return append([]sample(nil), tl.samples...), append([]phaseMark(nil), tl.phases...)
}

package engine

import (
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// Giving memory back after a burst of connections.
//
// A connect burst leaves the Go heap holding, beside the new connections,
// the garbage their handshakes made (gnet's accept, the old tables of maps
// that doubled): the runtime collects it only once the heap has grown to
// twice what was live at the last collection, which an idle server does
// not do again. Until then, or until sysmon's forced collection two
// minutes on, that garbage stays in RSS, with the free pages around it:
// at 10,000 connections about a third of what the process had gained
// (docs/benchmarks.md, "Idle memory: where the bytes went").
//
// So the engine watches the connections opening and closing from gnet's
// ticker. Once a burst has been followed by a quiet spell with none, and
// the heap holds enough that the last collection did not see, it runs one
// collection and returns the free pages to the OS (debug.FreeOSMemory),
// on a goroutine of its own so that the ticker and the loops go on. The
// collection is concurrent; its cost is that of one GC cycle over the live
// heap, and a burst must have touched a quarter of the connections (at
// least releaseMinChurn) for another one to follow, so that it stays a
// small fraction of what the handshakes themselves cost.

// DefaultReleaseQuiet is the quiet spell after a burst of connections that
// precedes a collection (Config.ReleaseQuiet).
const DefaultReleaseQuiet = time.Second

const (
	// releaseMinChurn is the fewest connections opened or closed since
	// the last collection that make another one worth its cost.
	releaseMinChurn = 1024
	// releaseMinBytes is the least heap the last collection did not see
	// (new objects, and garbage not yet swept) worth collecting for.
	releaseMinBytes = 1 << 20
)

// releaser decides, from the ticker, when to collect. Its fields other
// than the atomics and wg belong to gnet's ticker goroutine.
type releaser struct {
	quiet    time.Duration // Config.ReleaseQuiet; negative: never
	minChurn int64         // releaseMinChurn; tests lower it
	collect  func()        // debug.FreeOSMemory; tests count instead
	heap     func() bool   // worthIt: whether the heap is worth collecting
	churn    int64         // connections opened and closed, ever, as of the last tick
	changed  time.Time     // when churn last moved
	since    int64         // churn as of the last collection, or of the last one skipped
	samples  [3]metrics.Sample

	running atomic.Bool
	wg      sync.WaitGroup
	runs    atomic.Int64 // collections run, ever
}

// Metrics read to judge whether a collection would find anything.
const (
	metricLive    = "/gc/heap/live:bytes"                // marked live by the last collection
	metricObjects = "/memory/classes/heap/objects:bytes" // allocated now, unswept garbage included
	metricFree    = "/memory/classes/heap/free:bytes"    // free, not yet returned to the OS
)

func newReleaser(quiet time.Duration) *releaser {
	r := &releaser{quiet: quiet, minChurn: releaseMinChurn, collect: debug.FreeOSMemory}
	r.heap = r.worthIt
	r.samples[0].Name = metricLive
	r.samples[1].Name = metricObjects
	r.samples[2].Name = metricFree
	return r
}

// tick looks at the connections' churn at now and starts a collection if
// a burst has ended. conns is how many connections are open. It runs on
// gnet's ticker goroutine.
func (r *releaser) tick(now time.Time, churn, conns int64) {
	if r.quiet < 0 {
		return
	}
	if churn != r.churn {
		r.churn, r.changed = churn, now
		return
	}
	if now.Sub(r.changed) < r.quiet || churn-r.since < max(r.minChurn, conns/4) {
		return
	}
	r.since = churn
	if !r.heap() || r.running.Swap(true) {
		return
	}
	r.wg.Go(func() {
		defer r.running.Store(false)
		r.collect()
		r.runs.Add(1)
	})
}

// worthIt reads the heap's figures and reports whether they are worth
// collecting for.
func (r *releaser) worthIt() bool {
	metrics.Read(r.samples[:])
	for _, m := range r.samples {
		if m.Value.Kind() != metrics.KindUint64 {
			return true // a runtime without the metric: collect, as the churn says
		}
	}
	return worthCollecting(r.samples[0].Value.Uint64(), r.samples[1].Value.Uint64(), r.samples[2].Value.Uint64())
}

// worthCollecting reports whether a heap whose last collection found live
// bytes live, which now holds objects bytes of objects and free bytes of
// free pages kept from the OS, has enough to give back: what was
// allocated since, or kept free, beyond an eighth of the live heap.
func worthCollecting(live, objects, free uint64) bool {
	extra := free
	if objects > live {
		extra += objects - live
	}
	return extra >= max(releaseMinBytes, live/8)
}

// wait waits for a collection under way to end.
func (r *releaser) wait() { r.wg.Wait() }

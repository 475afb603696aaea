package api

import (
	"net/http"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics: the event loops only add to atomics; each part of the server
// has a collector that reads its own when Prometheus scrapes (Config.
// Collectors). Nothing on the hot path touches a Prometheus type. Every
// handler has its own registry, never the global one, so that tests and
// embedders can run many servers at once.

// Kinds of push, the "kind" label of wspush_pushes_total and
// wspush_push_duration_seconds.
const (
	kindPush      = "push"
	kindBroadcast = "broadcast"
	kindPublish   = "publish"
	kindBatch     = "batch" // counted per message of a batch, timed per batch
)

// pushBuckets spans a push to a few local connections (a fraction of a
// millisecond) to a broadcast to millions, in seconds.
var pushBuckets = []float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// metrics is the registry behind GET /metrics and the instruments that the
// HTTP API updates itself.
type metrics struct {
	reg      *prometheus.Registry
	pushes   *prometheus.CounterVec   // kind, result
	duration *prometheus.HistogramVec // kind
	// series holds each kind's series, looked up once: a call then costs
	// no label hashing and no lock on the vectors.
	series map[string]*kindSeries
}

// kindSeries are the series of one kind of push.
type kindSeries struct {
	ok, failed prometheus.Counter
	duration   prometheus.Observer
}

func newMetrics(parts []prometheus.Collector, version string) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wspush_pushes_total",
			Help: "Pushes through the HTTP API by kind (push, broadcast, publish, batch: per message) and result (ok, error).",
		}, []string{"kind", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wspush_push_duration_seconds",
			Help:    "Time from an API push request's start until every event loop has written it.",
			Buckets: pushBuckets,
		}, []string{"kind"}),
	}
	// Every series exists from the start, so that rates and alerts work
	// before the first push.
	m.series = map[string]*kindSeries{}
	for _, k := range []string{kindPush, kindBroadcast, kindPublish, kindBatch} {
		m.series[k] = &kindSeries{
			ok:       m.pushes.WithLabelValues(k, "ok"),
			failed:   m.pushes.WithLabelValues(k, "error"),
			duration: m.duration.WithLabelValues(k),
		}
	}
	m.reg.MustRegister(
		buildInfo(version),
		m.pushes,
		m.duration,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.reg.MustRegister(parts...)
	return m
}

// observe records one API push of kind that started at start.
func (m *metrics) observe(kind string, start time.Time, err error) {
	m.count(kind, err)
	m.series[kind].duration.Observe(time.Since(start).Seconds())
}

// count counts one push of kind.
func (m *metrics) count(kind string, err error) {
	if err != nil {
		m.series[kind].failed.Inc()
	} else {
		m.series[kind].ok.Inc()
	}
}

// handler serves the registry in the Prometheus text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// buildInfo is wspush_build_info: 1, with the version, the commit the
// binary was built from (its VCS stamp, "unknown" without one) and the Go
// release, so that a dashboard shows which build each node runs.
func buildInfo(version string) prometheus.Collector {
	if version == "" {
		version = "dev"
	}
	revision := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "wspush_build_info",
		Help:        "Always 1; its labels name the build: version, revision (the commit) and goversion.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()},
	})
	g.Set(1)
	return g
}

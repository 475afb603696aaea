package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics: the event loops only add to atomics (Server and loop fields);
// a collector reads them when Prometheus scrapes. Nothing on the hot path
// touches a Prometheus type. Every Server has its own registry, never the
// global one, so that tests and embedders can run many servers at once.

// Kinds of push, the "kind" label of wspush_pushes_total and
// wspush_push_duration_seconds.
const (
	kindPush      = "push"
	kindBroadcast = "broadcast"
	kindPublish   = "publish"
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
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wspush_pushes_total",
			Help: "Pushes through the HTTP API by kind (push, broadcast, publish) and result (ok, error).",
		}, []string{"kind", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wspush_push_duration_seconds",
			Help:    "Time from an API push request's start until every event loop has written it.",
			Buckets: pushBuckets,
		}, []string{"kind"}),
	}
	// Every series exists from the start, so that rates and alerts work
	// before the first push.
	for _, k := range []string{kindPush, kindBroadcast, kindPublish} {
		m.pushes.WithLabelValues(k, "ok")
		m.pushes.WithLabelValues(k, "error")
		m.duration.WithLabelValues(k)
	}
	m.reg.MustRegister(
		newCollector(s),
		m.pushes,
		m.duration,
		newRecoveryCollector(s),
		newFlateCollector(s),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	s.events.register(m.reg)
	return m
}

// observe records one API push of kind that started at start.
func (m *metrics) observe(kind string, start time.Time, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.pushes.WithLabelValues(kind, result).Inc()
	m.duration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
}

// handler serves the registry in the Prometheus text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// collector reads the server's atomics at scrape time.
type collector struct {
	s *Server

	conns, upgrades, rejected                  *prometheus.Desc
	msgsIn, msgsOut, bytesIn, bytesOut, closes *prometheus.Desc
	users, rooms                               *prometheus.Desc
}

func newCollector(s *Server) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &collector{
		s:        s,
		conns:    d("wspush_connections", "Upgraded WebSocket connections open now."),
		upgrades: d("wspush_upgrades_total", "Successful WebSocket upgrades."),
		rejected: d("wspush_upgrades_rejected_total", "Upgrades refused with an HTTP error, by status (\"other\" for any status not listed).", "status"),
		msgsIn:   d("wspush_messages_in_total", "Data messages received from clients."),
		msgsOut:  d("wspush_messages_out_total", "Pushes written to connections: one per receiving connection."),
		bytesIn:  d("wspush_bytes_in_total", "WebSocket bytes read after the upgrade."),
		bytesOut: d("wspush_bytes_out_total", "Bytes written to connections, handshakes included."),
		closes:   d("wspush_closes_total", "Connections ended, by reason (slow_consumer: closed for not reading its messages).", "reason"),
		users:    d("wspush_users", "Users with at least one connection."),
		rooms:    d("wspush_rooms", "Rooms with at least one member."),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conns, c.upgrades, c.rejected, c.msgsIn, c.msgsOut, c.bytesIn, c.bytesOut, c.closes, c.users, c.rooms} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. It runs on the scraping
// goroutine and only reads atomics.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(c.conns, float64(s.conns.Load()))
	gauge(c.users, float64(s.pool.Users()))
	gauge(c.rooms, float64(s.pool.RoomCount()))
	counter(c.upgrades, s.upgrades.Load())
	for i, st := range rejectStatuses {
		label := "other"
		if st != 0 {
			label = strconv.Itoa(st)
		}
		counter(c.rejected, s.rejects[i].Load(), label)
	}
	for r := ReasonNone + 1; r < numReasons; r++ {
		counter(c.closes, s.closes[r].Load(), r.String())
	}
	var in, out, bin, bout int64
	for _, l := range s.loopList() {
		in += l.msgsIn.Load()
		out += l.msgsOut.Load()
		bin += l.bytesIn.Load()
		bout += l.bytesOut.Load()
	}
	counter(c.msgsIn, in)
	counter(c.msgsOut, out)
	counter(c.bytesIn, bin)
	counter(c.bytesOut, bout)
}

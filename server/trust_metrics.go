package server

import "github.com/prometheus/client_golang/prometheus"

// trustCollector exports the trust boundaries' counters (fdbudget.go,
// apilimits.go, trust.go) at scrape time.
type trustCollector struct{ s *Server }

var (
	descAcceptsRefused = prometheus.NewDesc("wspush_accepts_refused_total",
		"TCP connections to the WebSocket listener refused (503) at the descriptor budget.", nil, nil)
	descAPIConns = prometheus.NewDesc("wspush_api_connections",
		"Open HTTP API connections, capped by --api-max-conns.", nil, nil)
	descAPIConnsRefused = prometheus.NewDesc("wspush_api_connections_refused_total",
		"HTTP API connections answered 503 at --api-max-conns, or closed while idle to make room, by action.", []string{"action"}, nil)
	descAPIAcceptErrors = prometheus.NewDesc("wspush_api_accept_errors_total",
		"Failed accepts on the HTTP API listener (EMFILE: out of descriptors), retried.", nil, nil)
	descFdBudget = prometheus.NewDesc("wspush_fd_budget",
		"The open-files limit split between its users (docs/security.md#descriptors).", []string{"share"}, nil)
	descDevelopment = prometheus.NewDesc("wspush_development_mode",
		"1 when connections name their user with ?user= (no --jwt-secret): never in production.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c trustCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAcceptsRefused, descAPIConns, descAPIConnsRefused, descAPIAcceptErrors, descFdBudget, descDevelopment} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c trustCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter(descAcceptsRefused, s.eng.Counters().AcceptsRefused)
	if a := s.apiConns; a != nil {
		gauge(descAPIConns, a.count())
		counter(descAPIConnsRefused, a.refused.Load(), "refused")
		counter(descAPIConnsRefused, a.evicted.Load(), "idle_closed")
		counter(descAPIAcceptErrors, a.failed.Load())
	}
	b := s.budget()
	for share, v := range map[string]int{"limit": b.limit, "fixed": b.fixed, "api": b.api, "webhook": b.webhook,
		"redis": b.redis, "burst": b.burst, "websocket": b.ws} {
		gauge(descFdBudget, v, share)
	}
	dev := 0
	if s.cfg.AuthMode() == AuthDevelopment {
		dev = 1
	}
	gauge(descDevelopment, dev)
}

package engine

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// flateStats are a loop's permessage-deflate counters, read by the
// metrics collector from another goroutine.
type flateStats struct {
	negotiated atomic.Int64 // upgrades that negotiated permessage-deflate
	deflated   atomic.Int64 // messages compressed: once per fan-out message, once per echo or reply
	inflated   atomic.Int64 // compressed messages received and inflated
}

// flateCollector exports the loops' flateStats.
type flateCollector struct {
	s                              *Engine
	negotiated, deflated, inflated *prometheus.Desc
}

func newFlateCollector(s *Engine) *flateCollector {
	return &flateCollector{
		s:          s,
		negotiated: prometheus.NewDesc("wspush_deflate_negotiated_total", "Upgrades that negotiated permessage-deflate.", nil, nil),
		deflated:   prometheus.NewDesc("wspush_deflate_compressed_total", "Messages compressed: once per push, publish or broadcast however many receivers take it compressed, and once per echo or reply.", nil, nil),
		inflated:   prometheus.NewDesc("wspush_deflate_inflated_total", "Compressed messages received and inflated.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *flateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.negotiated
	ch <- c.deflated
	ch <- c.inflated
}

// Collect implements prometheus.Collector.
func (c *flateCollector) Collect(ch chan<- prometheus.Metric) {
	var n, d, i int64
	for _, l := range c.s.loopList() {
		n += l.fl.stats.negotiated.Load()
		d += l.fl.stats.deflated.Load()
		i += l.fl.stats.inflated.Load()
	}
	ch <- prometheus.MustNewConstMetric(c.negotiated, prometheus.CounterValue, float64(n))
	ch <- prometheus.MustNewConstMetric(c.deflated, prometheus.CounterValue, float64(d))
	ch <- prometheus.MustNewConstMetric(c.inflated, prometheus.CounterValue, float64(i))
}

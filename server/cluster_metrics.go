package server

import "github.com/prometheus/client_golang/prometheus"

// recoveryCollector reads the counters of resumes and of the cluster at
// scrape time.
type recoveryCollector struct {
	s *Server

	gaps, replayed, held                          *prometheus.Desc
	up, published, received, localOnly, errs, rec *prometheus.Desc
}

func newRecoveryCollector(s *Server) *recoveryCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &recoveryCollector{
		s:         s,
		gaps:      d("wspush_resume_gaps_total", "Streams of resumes that asked for more than the history keeps: the client was told to re-sync."),
		replayed:  d("wspush_resume_replayed_total", "Messages written to resuming clients from the history."),
		held:      d("wspush_resume_held_total", "Live messages held back from connections that asked for resume=1 until their replay (which carries them); lost if the client never resumes within 10 s."),
		up:        d("wspush_redis_up", "1 while Redis answers, 0 during an outage (cluster mode only)."),
		published: d("wspush_cluster_published_total", "Pushes, publishes and broadcasts this node sent through Redis."),
		received:  d("wspush_cluster_received_total", "Messages this node received from Redis."),
		localOnly: d("wspush_cluster_local_only_total", "Pushes made while Redis was down, delivered to this node's clients only and kept in no shared history."),
		errs:      d("wspush_redis_errors_total", "Redis calls that failed."),
		rec:       d("wspush_redis_reconnects_total", "Redis outages that ended."),
	}
}

// Describe implements prometheus.Collector.
func (c *recoveryCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.gaps, c.replayed, c.held, c.up, c.published, c.received, c.localOnly, c.errs, c.rec} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *recoveryCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	counter(c.gaps, c.s.gaps.Load())
	counter(c.replayed, c.s.replays.Load())
	counter(c.held, c.s.held.Load())
	cl := c.s.cl
	if cl == nil {
		return
	}
	up := 0.0
	if cl.up.Load() {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
	counter(c.published, cl.published.Load())
	counter(c.received, cl.received.Load())
	counter(c.localOnly, cl.localOnly.Load())
	counter(c.errs, cl.errs.Load())
	counter(c.rec, cl.reconnects.Load())
}

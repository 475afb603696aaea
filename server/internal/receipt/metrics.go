package receipt

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Counters are what the receipts did, for /metrics: one node's (Memory),
// or what one node of a cluster did and saw of Redis (package cluster).
type Counters struct {
	// Pending is the receipts waiting for an acknowledgement (in a
	// cluster: of the whole cluster, as this node last read it), Max
	// their cap, Messages the messages whose receipts are kept.
	Pending, Max, Messages atomic.Int64
	// Received and Undelivered count receipts by outcome (per user),
	// Refused the pushes refused at the cap, Ignored the acknowledged ids
	// that changed nothing (unknown, someone else's, not pending), Dropped
	// the acknowledgements a full queue to Redis refused (cluster).
	Received, Undelivered, Refused, Ignored, Dropped atomic.Int64
}

// acked counts n applied and ignored acknowledged ids.
func (c *Counters) acked(n, ignored int) {
	c.Received.Add(int64(n))
	c.Ignored.Add(int64(ignored))
}

// Acked counts n applied and ignored acknowledged ids (for the cluster's
// store).
func (c *Counters) Acked(n, ignored int) { c.acked(n, ignored) }

var (
	descPending = prometheus.NewDesc("wspush_receipts_pending",
		"Delivery receipts waiting for an acknowledgement (one per user of each push that asked for one); in a cluster, the whole cluster's.", nil, nil)
	descMax = prometheus.NewDesc("wspush_receipts_pending_limit",
		"--max-receipts: pending receipts at most; past it a push that asks for receipts is refused (503 receipts_full).", nil, nil)
	descMessages = prometheus.NewDesc("wspush_receipts_messages",
		"Messages whose receipts this node keeps (pending, or readable at GET /v1/messages/{id} until their keep time passed); 0 in a cluster, which keeps them in Redis.", nil, nil)
	descOutcomes = prometheus.NewDesc("wspush_receipts_total",
		"Receipts by outcome: received (a connection of the user acknowledged), undelivered (the timeout passed first; message.undelivered sent).", []string{"result"}, nil)
	descRefused = prometheus.NewDesc("wspush_receipts_refused_total",
		"Pushes refused because the pending receipts were at --max-receipts.", nil, nil)
	descAcks = prometheus.NewDesc("wspush_receipt_acks_ignored_total",
		"Acknowledged ids that changed nothing: no such receipt, another user's, or no longer pending.", nil, nil)
	descDropped = prometheus.NewDesc("wspush_receipt_acks_dropped_total",
		"Acknowledgements refused because the queue to Redis was full (cluster); their receipts time out as undelivered.", nil, nil)
)

// Collector returns the metrics of c.
func (c *Counters) Collector() prometheus.Collector { return collector{c} }

type collector struct{ c *Counters }

// Describe implements prometheus.Collector.
func (k collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPending, descMax, descMessages, descOutcomes, descRefused, descAcks, descDropped} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (k collector) Collect(ch chan<- prometheus.Metric) {
	c := k.c
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(c.Pending.Load()))
	ch <- prometheus.MustNewConstMetric(descMax, prometheus.GaugeValue, float64(c.Max.Load()))
	ch <- prometheus.MustNewConstMetric(descMessages, prometheus.GaugeValue, float64(c.Messages.Load()))
	ch <- prometheus.MustNewConstMetric(descOutcomes, prometheus.CounterValue, float64(c.Received.Load()), "received")
	ch <- prometheus.MustNewConstMetric(descOutcomes, prometheus.CounterValue, float64(c.Undelivered.Load()), "undelivered")
	ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(c.Refused.Load()))
	ch <- prometheus.MustNewConstMetric(descAcks, prometheus.CounterValue, float64(c.Ignored.Load()))
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(c.Dropped.Load()))
}

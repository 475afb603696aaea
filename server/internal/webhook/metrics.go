package webhook

import "github.com/prometheus/client_golang/prometheus"

// Counters are the webhook's counters: events sent, dropped and failed,
// batches retried, requests by class (2xx, 4xx, 5xx, error), and what the
// queue holds now.
type Counters struct {
	Sent, Dropped, Failed, Retries int64
	Requests                       [4]int64
	Queued, QueueBytes             int64
}

// Counters reads the webhook's counters.
func (w *Webhook) Counters() Counters {
	c := Counters{Sent: w.sent.Load(), Dropped: w.dropped.Load(), Failed: w.failed.Load(),
		Retries: w.retries.Load(), Queued: int64(len(w.q)), QueueBytes: w.bytes.Load()}
	for i := range w.requests {
		c.Requests[i] = w.requests[i].Load()
	}
	return c
}

// Collector returns the webhook's metrics.
func (w *Webhook) Collector() prometheus.Collector { return webhookCollector{w} }

var (
	descWebhookEvents = prometheus.NewDesc("wspush_webhook_events_total",
		"Events for the backend by result: sent (the backend answered 2xx), dropped (the queue was full), failed (given up after retries or refused with a 4xx).",
		[]string{"result"}, nil)
	descWebhookRequests = prometheus.NewDesc("wspush_webhook_requests_total",
		"Webhook requests by outcome: 2xx, 4xx, 5xx, error (network error or timeout).", []string{"status"}, nil)
	descWebhookRetries = prometheus.NewDesc("wspush_webhook_retries_total",
		"Webhook batches sent again after a failure.", nil, nil)
	descWebhookQueue = prometheus.NewDesc("wspush_webhook_queue_events",
		"Events waiting to be sent to the backend.", nil, nil)
	descWebhookQueueBytes = prometheus.NewDesc("wspush_webhook_queue_bytes",
		"Bytes held by events waiting to be sent, counted against --webhook-queue-bytes.", nil, nil)
	descWebhookQueueLimit = prometheus.NewDesc("wspush_webhook_queue_events_limit",
		"--webhook-queue: events the queue holds at most; past it new events are dropped.", nil, nil)
	descWebhookQueueBytesLimit = prometheus.NewDesc("wspush_webhook_queue_bytes_limit",
		"--webhook-queue-bytes: bytes the queued events hold at most; past it new events are dropped.", nil, nil)
)

// webhookCollector reads the webhook's atomics at scrape time.
type webhookCollector struct{ w *Webhook }

// Describe implements prometheus.Collector.
func (c webhookCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descWebhookEvents
	ch <- descWebhookRequests
	ch <- descWebhookRetries
	ch <- descWebhookQueue
	ch <- descWebhookQueueBytes
	ch <- descWebhookQueueLimit
	ch <- descWebhookQueueBytesLimit
}

// Collect implements prometheus.Collector.
func (c webhookCollector) Collect(ch chan<- prometheus.Metric) {
	w := c.w
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(descWebhookEvents, w.sent.Load(), "sent")
	counter(descWebhookEvents, w.dropped.Load(), "dropped")
	counter(descWebhookEvents, w.failed.Load(), "failed")
	for i, class := range requestClasses {
		counter(descWebhookRequests, w.requests[i].Load(), class)
	}
	counter(descWebhookRetries, w.retries.Load())
	ch <- prometheus.MustNewConstMetric(descWebhookQueue, prometheus.GaugeValue, float64(len(w.q)))
	ch <- prometheus.MustNewConstMetric(descWebhookQueueBytes, prometheus.GaugeValue, float64(w.bytes.Load()))
	ch <- prometheus.MustNewConstMetric(descWebhookQueueLimit, prometheus.GaugeValue, float64(cap(w.q)))
	ch <- prometheus.MustNewConstMetric(descWebhookQueueBytesLimit, prometheus.GaugeValue, float64(w.cfg.QueueBytes))
}

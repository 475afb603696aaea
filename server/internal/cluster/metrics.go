package cluster

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// collector reads the cluster's counters at scrape time.
type collector struct {
	cl *Cluster

	up, published, received, unavailable, errs, rec, dropped, queued, rejected *prometheus.Desc
	catchups, caught, gaps, followed, lost, unreplicated, resyncs, memberQueue *prometheus.Desc
	queueLimit, heartbeat, nodes, reshards, behind, backlogLimit               *prometheus.Desc
}

// Collectors are the cluster's metrics.
func (cl *Cluster) Collectors() []prometheus.Collector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return []prometheus.Collector{&collector{
		cl:           cl,
		dropped:      d("wspush_cluster_refused_total", "Client publishes and resumes refused because too many waited for Redis, and messages from Redis the loops refused (full outbox)."),
		queued:       d("wspush_cluster_queue", "Client publishes waiting for the publisher to send them to Redis."),
		rejected:     d("wspush_cluster_rejected_total", "Messages from Redis dropped because no node sent them: not a push envelope, not UTF-8 or JSON, or a control message without a valid signature (--cluster-secret)."),
		up:           d("wspush_redis_up", "1 while Redis answers, 0 during an outage (cluster mode only)."),
		published:    d("wspush_cluster_published_total", "Pushes, publishes and broadcasts this node sent through Redis."),
		received:     d("wspush_cluster_received_total", "Messages this node received from Redis."),
		unavailable:  d("wspush_cluster_unavailable_total", "Messages this node refused because Redis was down or did not answer in time: the API answered 503, the client got an error."),
		errs:         d("wspush_redis_errors_total", "Redis calls that failed."),
		rec:          d("wspush_redis_reconnects_total", "Redis outages that ended."),
		catchups:     d("wspush_cluster_catchups_total", "Streams this node read again after subscribing to them again (Redis came back, or the node's connection to it was cut)."),
		caught:       d("wspush_cluster_caught_up_total", "Messages those reads delivered: published while this node was not subscribed."),
		followed:     d("wspush_cluster_streams_followed", "User and room streams this node subscribes to and keeps the last delivered position of, for catch-up: one per local user and room with history on."),
		lost:         d("wspush_cluster_lost_writes_total", "Redis instances this node found lacking writes another had (a replica promoted by Sentinel, a restart from an older snapshot): reads from before the loss get a gap notice."),
		unreplicated: d("wspush_cluster_unreplicated_total", "API pushes, publishes and broadcasts fewer replicas than --redis-replicas acknowledged within the call's deadline: answered 503 replicas."),
		gaps:         d("wspush_cluster_gaps_total", "Streams whose catch-up found a hole the history no longer covers: their connections got a gap notice."),
		resyncs:      d("wspush_cluster_room_resyncs_total", "Times this node rewrote all of its room memberships in Redis: at start, when Redis came back, or when more than 262,144 changes waited for the worker."),
		memberQueue:  d("wspush_cluster_room_changes", "Room membership changes (a user's first connection in a room, or its last leaving) waiting for the worker to write them to Redis."),
		behind:       d("wspush_cluster_behind_total", "API pushes, publishes and broadcasts refused (503 busy, nothing published) because this node's deepest event loop outbox held more than wspush_cluster_backlog_limit jobs: its deliveries were behind."),
		backlogLimit: d("wspush_cluster_backlog_limit", "The outbox depth (jobs in one event loop, wspush_outbox_jobs) past which this node refuses API calls rather than queue more messages from Redis."),
		queueLimit:   d("wspush_cluster_queue_limit", "Client publishes and resumes that may wait for Redis; past it they are refused (wspush_cluster_refused_total)."),
		heartbeat:    d("wspush_redis_heartbeat_seconds", "How long this node's last heartbeat took in Redis: one pipelined round trip of four commands, every second while Redis answers."),
		reshards:     d("wspush_cluster_reshards_total", "Redis Cluster only: partitions whose slot moved to another primary (resharding), which this node subscribed to again there."),
		nodes:        d("wspush_cluster_nodes", "Nodes whose heartbeat this node saw in Redis within the last 5 s, itself included; 0 before its first heartbeat and during an outage."),
	}, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "wspush_cluster_inspect_dropped_total",
		Help: "Asks of the operator console from other nodes (a page of connections, a connection's details, a disconnect) this node did not answer because 4 were being answered already: the asker named it missing."},
		func() float64 { return float64(cl.insDropped.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "wspush_cluster_inspect_missing_total",
			Help: "Nodes that did not answer an ask of this node's operator console within 1 s, and were named missing."},
			func() float64 { return float64(cl.insMissing.Load()) })}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.published, c.received, c.unavailable, c.errs, c.rec, c.dropped, c.queued, c.rejected, c.catchups, c.caught, c.gaps, c.followed, c.lost, c.unreplicated, c.resyncs, c.memberQueue, c.queueLimit, c.heartbeat, c.nodes, c.reshards, c.behind, c.backlogLimit} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	k := c.cl.Counters()
	up := 0.0
	if k.Up {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(k.Queued))
	counter(c.published, k.Published)
	counter(c.received, k.Received)
	counter(c.unavailable, k.Unavailable)
	counter(c.errs, k.Errs)
	counter(c.rec, k.Reconnects)
	counter(c.dropped, k.Dropped)
	counter(c.rejected, k.Rejected)
	counter(c.catchups, k.CatchUps)
	counter(c.caught, k.Caught)
	counter(c.gaps, k.Gaps)
	counter(c.lost, k.LostWrites)
	counter(c.unreplicated, k.Unreplicated)
	ch <- prometheus.MustNewConstMetric(c.followed, prometheus.GaugeValue, float64(k.Followed))
	counter(c.resyncs, c.cl.resyncs.Load())
	counter(c.reshards, k.Reshards)
	counter(c.behind, c.cl.behind.Load())
	ch <- prometheus.MustNewConstMetric(c.backlogLimit, prometheus.GaugeValue, float64(c.cl.cfg.MaxBacklog))
	c.cl.mu.Lock()
	waiting := len(c.cl.members)
	c.cl.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.memberQueue, prometheus.GaugeValue, float64(waiting))
	ch <- prometheus.MustNewConstMetric(c.queueLimit, prometheus.GaugeValue, float64(c.cl.cfg.MaxQueue))
	ch <- prometheus.MustNewConstMetric(c.heartbeat, prometheus.GaugeValue, time.Duration(c.cl.beatNanos.Load()).Seconds())
	nodes := 0
	if k.Up {
		if cs := c.cl.stats.Load(); cs != nil {
			nodes = cs.Nodes
		}
	}
	ch <- prometheus.MustNewConstMetric(c.nodes, prometheus.GaugeValue, float64(nodes))
}

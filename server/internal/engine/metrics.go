package engine

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wspush/wspush/server/internal/wire"
)

// collector reads the engine's atomics at scrape time.
type collector struct {
	s *Engine

	conns, upgrades, rejected                  *prometheus.Desc
	msgsIn, msgsOut, bytesIn, bytesOut, closes *prometheus.Desc
	users, rooms, queued, refused              *prometheus.Desc
	gaps, replayed, held                       *prometheus.Desc
	lagConns, lagBytes, lagDropped             *prometheus.Desc
	acceptsRefused, tcp                        *prometheus.Desc

	// The limits, so that alerts and dashboards are ratios.
	maxConns, acceptCap, maxQueue, maxPending *prometheus.Desc
}

// Collectors returns the engine's metrics, read from its counters when
// Prometheus scrapes.
func (s *Engine) Collectors() []prometheus.Collector {
	return []prometheus.Collector{newCollector(s), newFlateCollector(s), newAdmitCollector(s)}
}

func newCollector(s *Engine) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &collector{
		s:          s,
		conns:      d("wspush_connections", "Upgraded WebSocket connections open now."),
		upgrades:   d("wspush_upgrades_total", "Successful WebSocket upgrades."),
		rejected:   d("wspush_upgrades_rejected_total", "Upgrades refused with an HTTP error, by status (\"other\" for any status not listed).", "status"),
		msgsIn:     d("wspush_messages_in_total", "Data messages received from clients."),
		msgsOut:    d("wspush_messages_out_total", "Pushes written to connections: one per receiving connection."),
		bytesIn:    d("wspush_bytes_in_total", "WebSocket bytes read after the upgrade."),
		bytesOut:   d("wspush_bytes_out_total", "Bytes written to connections, handshakes included."),
		closes:     d("wspush_closes_total", "Connections ended, by reason (slow_consumer: closed for not reading its messages).", "reason"),
		users:      d("wspush_users", "Users with at least one connection."),
		rooms:      d("wspush_rooms", "Rooms with at least one member."),
		queued:     d("wspush_outbox_jobs", "Fan-out jobs waiting in the event loops' outboxes (each capped by --max-queue)."),
		refused:    d("wspush_outbox_refused_total", "Fan-out jobs refused by a full outbox: the API answered 503 busy, a client got a busy error, or a message from the cluster was dropped."),
		gaps:       d("wspush_resume_gaps_total", "Streams of resumes that asked for more than the history keeps: the client was told to re-sync."),
		replayed:   d("wspush_resume_replayed_total", "Messages written to resuming clients from the history."),
		lagConns:   d("wspush_lagging_connections", "Connections that fell behind past gnet's 16 KiB share of their backlog: frames wait in user space (each connection capped by --max-pending, kernel and gnet included)."),
		lagBytes:   d("wspush_lag_bytes", "Bytes of frames waiting in lagging connections' user-space queues."),
		lagDropped: d("wspush_lag_dropped_total", "Frames dropped from lagging connections' queues at their disconnect (the disconnect message goes first instead) or close."),
		acceptsRefused: d("wspush_accepts_refused_total",
			"TCP connections to the WebSocket listener refused (503) at the descriptor budget."),
		tcp: d("wspush_tcp_connections", "TCP connections the WebSocket listener holds, upgraded or not, counted against wspush_tcp_connections_limit."),
		maxConns: d("wspush_connections_limit",
			"--max-conns: upgraded connections past which an upgrade is answered 503."),
		acceptCap: d("wspush_tcp_connections_limit",
			"The descriptor budget's cap on TCP connections to the WebSocket listener, upgraded or not: past it a connection is answered 503 (wspush_accepts_refused_total)."),
		maxQueue: d("wspush_outbox_jobs_limit",
			"--max-queue times the event loops: the sum of the loops' outbox caps, against wspush_outbox_jobs."),
		maxPending: d("wspush_pending_bytes_limit",
			"--max-pending: the outbound bytes one connection may have queued before it is closed as slow_consumer."),
		held: d("wspush_resume_held_total", "Live messages held back from connections that asked for resume=1 until their replay (which carries them); lost if the client never resumes within 10 s."),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conns, c.upgrades, c.rejected, c.msgsIn, c.msgsOut, c.bytesIn, c.bytesOut, c.closes, c.users, c.rooms, c.queued, c.refused, c.gaps, c.replayed, c.held, c.lagConns, c.lagBytes, c.lagDropped, c.acceptsRefused, c.tcp, c.maxConns, c.acceptCap, c.maxQueue, c.maxPending} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. It runs on the scraping
// goroutine and only reads atomics.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	k := c.s.Counters()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(c.conns, float64(k.Conns))
	gauge(c.users, float64(k.Users))
	gauge(c.rooms, float64(k.Rooms))
	gauge(c.queued, float64(k.Queued))
	counter(c.upgrades, k.Upgrades)
	for i, st := range RejectStatuses {
		label := "other"
		if st != 0 {
			label = strconv.Itoa(st)
		}
		counter(c.rejected, k.Rejected[i], label)
	}
	for r := wire.ReasonNone + 1; r < wire.NumReasons; r++ {
		counter(c.closes, k.Closes[r], r.String())
	}
	counter(c.msgsIn, k.MessagesIn)
	counter(c.msgsOut, k.MessagesOut)
	counter(c.bytesIn, k.BytesIn)
	counter(c.bytesOut, k.BytesOut)
	counter(c.refused, k.Refused)
	counter(c.gaps, k.Gaps)
	counter(c.replayed, k.Replayed)
	counter(c.held, k.Held)
	gauge(c.lagConns, float64(k.LagConns))
	gauge(c.lagBytes, float64(k.LagBytes))
	counter(c.lagDropped, k.LagDropped)
	counter(c.acceptsRefused, k.AcceptsRefused)
	gauge(c.tcp, float64(k.TCP))
	cfg := c.s.cfg
	gauge(c.maxConns, float64(cfg.MaxConns))
	gauge(c.acceptCap, float64(c.s.AcceptCap()))
	gauge(c.maxQueue, float64(cfg.MaxQueue*max(cfg.Loops, 1)))
	gauge(c.maxPending, float64(cfg.MaxPending))
}

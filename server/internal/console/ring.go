package console

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/wspush/wspush/server/internal/wire"
)

// RingPoints is how many one-second points of the overview the console
// keeps: 15 minutes.
const RingPoints = 900

// Point is one second of this node's overview, as the charts plot it.
type Point struct {
	T          int64   `json:"t"` // unix milliseconds
	Conns      int64   `json:"connections"`
	Users      int     `json:"users"`
	Rooms      int     `json:"rooms"`
	InPerSec   float64 `json:"in_per_s"`
	OutPerSec  float64 `json:"out_per_s"`
	RSS        int64   `json:"rss_bytes"`
	Goroutines int     `json:"goroutines"`
	// P50 and P99 are the API's push latency over this second, in
	// milliseconds (wspush_push_duration_seconds); nil when no push
	// ended in it.
	P50 *float64 `json:"p50_ms"`
	P99 *float64 `json:"p99_ms"`
	// LoopLagMs is how long a job waited for the slowest event loop, in
	// milliseconds; measured only while an overview stream is open (it
	// wakes every loop), nil otherwise.
	LoopLagMs *float64 `json:"loop_lag_ms"`
	// Closes are the connections that ended in this second, by reason.
	Closes map[string]float64 `json:"closes,omitempty"`
	// Redis is "up" or "down" in a cluster, "" on a single node; Nodes and
	// ClusterConns are the cluster's, from the nodes' heartbeats.
	Redis        string `json:"redis,omitempty"`
	Nodes        int    `json:"nodes,omitempty"`
	ClusterConns int64  `json:"cluster_connections,omitempty"`
}

// sampler takes a Point a second into a ring of RingPoints.
type sampler struct {
	stats  func() wire.Stats
	gather func() prometheus.Gatherer
	lag    func(context.Context) (time.Duration, error)

	mu   sync.Mutex
	ring []Point
	next int
	full bool
	subs map[chan Point]struct{}

	prev       wire.Stats
	prevT      time.Time
	prevBucket []uint64 // cumulative push latency buckets, all kinds
	bounds     []float64
	prevCloses map[string]float64
	onRedis    func(string) // told when Redis goes up or down
}

// take samples now.
func (s *sampler) take(now time.Time) Point {
	st := s.stats()
	p := Point{T: now.UnixMilli(), Conns: st.Connections, Users: st.Users, Rooms: st.Rooms,
		RSS: st.RSSBytes, Goroutines: st.Goroutines}
	if dt := now.Sub(s.prevT).Seconds(); !s.prevT.IsZero() && dt > 0 {
		p.InPerSec = float64(st.MessagesIn-s.prev.MessagesIn) / dt
		p.OutPerSec = float64(st.MessagesOut-s.prev.MessagesOut) / dt
	}
	if st.Cluster != nil {
		p.Redis, p.Nodes, p.ClusterConns = st.Cluster.Redis, st.Cluster.Nodes, st.Cluster.Connections
		if s.prev.Cluster != nil && s.prev.Cluster.Redis != st.Cluster.Redis && s.onRedis != nil {
			s.onRedis(st.Cluster.Redis)
		}
	}
	s.prev, s.prevT = st, now
	if s.lag != nil && s.streams() > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		if d, err := s.lag(ctx); err == nil {
			ms := float64(d.Microseconds()) / 1000
			p.LoopLagMs = &ms
		}
		cancel()
	}
	if g := s.gather(); g != nil {
		if mfs, err := g.Gather(); err == nil {
			s.fromMetrics(&p, mfs)
		}
	}
	return p
}

// fromMetrics fills in the latency quantiles and the closes of the last
// second, from the differences of the counters since the last sample.
func (s *sampler) fromMetrics(p *Point, mfs []*dto.MetricFamily) {
	for _, mf := range mfs {
		switch mf.GetName() {
		case "wspush_push_duration_seconds":
			var cum []uint64
			var bounds []float64
			for _, m := range mf.GetMetric() {
				h := m.GetHistogram()
				for i, b := range h.GetBucket() {
					if len(cum) <= i {
						cum = append(cum, 0)
						bounds = append(bounds, b.GetUpperBound())
					}
					cum[i] += b.GetCumulativeCount()
				}
			}
			if len(s.prevBucket) == len(cum) {
				d := make([]uint64, len(cum))
				for i := range cum {
					d[i] = cum[i] - s.prevBucket[i]
				}
				p.P50, p.P99 = quantile(0.5, d, bounds), quantile(0.99, d, bounds)
			}
			s.prevBucket, s.bounds = cum, bounds
		case "wspush_closes_total":
			now := map[string]float64{}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "reason" {
						now[l.GetValue()] += m.GetCounter().GetValue()
					}
				}
			}
			if s.prevCloses != nil {
				for r, v := range now {
					if d := v - s.prevCloses[r]; d > 0 {
						if p.Closes == nil {
							p.Closes = map[string]float64{}
						}
						p.Closes[r] = d
					}
				}
			}
			s.prevCloses = now
		}
	}
}

// quantile estimates the q-quantile in milliseconds from cumulative bucket
// counts, interpolating inside the bucket as Prometheus'
// histogram_quantile does; nil for no observation.
func quantile(q float64, cum []uint64, bounds []float64) *float64 {
	if len(cum) == 0 || cum[len(cum)-1] == 0 {
		return nil
	}
	total := float64(cum[len(cum)-1])
	rank := q * total
	lo, prev := 0.0, 0.0
	for i, c := range cum {
		if float64(c) >= rank {
			hi := bounds[i]
			if math.IsInf(hi, 1) {
				hi = lo
			}
			in := float64(c) - prev
			v := lo
			if in > 0 {
				v = lo + (hi-lo)*(rank-prev)/in
			}
			v *= 1000
			return &v
		}
		lo, prev = bounds[i], float64(c)
	}
	v := lo * 1000
	return &v
}

// add files p and hands it to the streams.
func (s *sampler) add(p Point) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ring == nil {
		s.ring = make([]Point, RingPoints)
	}
	s.ring[s.next] = p
	s.next++
	if s.next == RingPoints {
		s.next, s.full = 0, true
	}
	for ch := range s.subs {
		select {
		case ch <- p:
		default: // a stream that does not keep up skips a second
		}
	}
}

// points is the ring, oldest first.
func (s *sampler) points() []Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.full {
		return append([]Point{}, s.ring[:s.next]...)
	}
	return append(append([]Point{}, s.ring[s.next:]...), s.ring[:s.next]...)
}

func (s *sampler) subscribe() chan Point {
	ch := make(chan Point, 4)
	s.mu.Lock()
	if s.subs == nil {
		s.subs = map[chan Point]struct{}{}
	}
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	return ch
}

func (s *sampler) unsubscribe(ch chan Point) {
	s.mu.Lock()
	delete(s.subs, ch)
	s.mu.Unlock()
}

func (s *sampler) streams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

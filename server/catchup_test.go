package server

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/redistest"
)

// BenchmarkClusterCatchUp measures the time from Redis's return to the
// last caught-up delivery: node b is cut off from Redis (its connections
// closed, new ones refused) while 100 pushes to a client of b go through
// node a, then let back; the time is from the moment b can reach Redis
// again until its client has read the 100th push, each in order, none
// lost. Run it with -benchtime 20x (docs/benchmarks.md).
func BenchmarkClusterCatchUp(b *testing.B) {
	const k = 100
	r := startRedis(b)
	p := redistest.NewProxy(b, r.Server)
	cfg := Config{HistorySize: 1000, HistoryTTL: time.Minute}
	a := startNode(b, r, "a", cfg)
	cfg.Redis, cfg.Node = p.URL(), "b"
	nb := startPlain(b, cfg)
	c, _ := dialAs(b, nb, "?user=cu", "")
	r.waitSubs("wspush:u:cu", 1)
	var ds []time.Duration
	seq := 0
	b.ResetTimer()
	for range b.N {
		p.Cut()
		for range k {
			seq++
			if _, err := a.Push(context.Background(), []string{"cu"}, json.RawMessage(strconv.Itoa(seq))); err != nil {
				b.Fatal(err)
			}
		}
		back := time.Now()
		p.Mend()
		for i := seq - k + 1; i <= seq; i++ {
			c.ExpectPush(strconv.Itoa(i))
		}
		ds = append(ds, time.Since(back))
	}
	b.StopTimer()
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(ds[len(ds)/2]), "catchup-p50-ms")
	b.ReportMetric(ms(ds[len(ds)-1]), "catchup-max-ms")
}

package cluster

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/redistest"
)

// BenchmarkPushReplicas is the cost of --redis-replicas: one push after
// the other, answered, to a user one node holds, on a primary with one
// replica (the recipe of docs/deploy/redis/sentinel, over TCP on
// 127.0.0.1), without WAIT and with WAIT 1 (docs/benchmarks.md).
func BenchmarkPushReplicas(b *testing.B) {
	s := redistest.StartReplicated(b, "../../../docs/deploy/redis/sentinel", 1, 0)
	for _, n := range []int{0, 1} {
		b.Run("replicas="+strconv.Itoa(n), func(b *testing.B) {
			e := newFake()
			e.users["al"] = 1
			cfg := Config{HistorySize: 100, HistoryTTL: time.Minute, Replicas: n, Redis: s.PrimaryURL(), Node: "bench" + strconv.Itoa(n)}
			cl, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			cl.Bind(e)
			cl.Start()
			defer cl.Close()
			cl.Arrived("al")
			go func() {
				for range e.posts {
				}
			}()
			ctx := context.Background()
			data := json.RawMessage(`{"n":1}`)
			cpu0 := redisCPU(b, s.Primary)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := cl.Push(ctx, "", []string{"al"}, data, ""); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric((redisCPU(b, s.Primary)-cpu0)*1e6/float64(b.N), "primary-cpu-µs/op")
		})
	}
}

// redisCPU is the CPU seconds p has used (INFO cpu: user and system).
func redisCPU(b *testing.B, p *redistest.Proc) float64 {
	info, err := p.Client.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	for _, f := range []string{"used_cpu_user", "used_cpu_sys"} {
		v, _ := strconv.ParseFloat(infoField(info, f), 64)
		sum += v
	}
	return sum
}

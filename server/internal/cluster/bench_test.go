package cluster

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
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

// BenchmarkRedisClusterPush compares one Redis with a Redis Cluster of
// three primaries (each with a replica: the recipe of
// docs/deploy/redis/cluster), both over TCP on 127.0.0.1, on the same
// load: 1,000 users held by one node, API pushes from 32 goroutines to
// one user or to 100 users per call. It reports the Redis CPU per
// delivered push (the primaries', INFO cpu), and on the cluster the
// spread of keys and shard channels over the primaries (the most over the
// fewest). Run it with -benchtime 20000x (docs/benchmarks.md).
func BenchmarkRedisClusterPush(b *testing.B) {
	single := redistest.StartReplicated(b, "../../../docs/deploy/redis/sentinel", 0, 0)
	rc := redistest.StartCluster(b, "../../../docs/deploy/redis/cluster")
	for _, per := range []int{1, 100} {
		for _, topo := range []string{"one-redis", "cluster"} {
			b.Run(topo+"/users="+strconv.Itoa(per), func(b *testing.B) {
				url, procs := single.PrimaryURL(), []*redistest.Proc{single.Primary}
				cfg := Config{HistorySize: 100, HistoryTTL: time.Minute, Node: "bench-" + topo + strconv.Itoa(per),
					Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
				if topo == "cluster" {
					url, procs = rc.URL(), rc.Primaries()
					cfg.Passwords.Redis = rc.Password
				}
				cfg.Redis = url
				e := newFake()
				var users []string
				for i := range 1000 {
					u := "b" + strconv.Itoa(i)
					users = append(users, u)
					e.users[u] = 1
				}
				cl, err := New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				cl.Bind(e)
				cl.Start()
				defer cl.Close()
				for _, u := range users {
					cl.Arrived(u)
				}
				for cl.followed.Load() < int64(len(users)) {
					time.Sleep(10 * time.Millisecond)
				}
				go func() {
					for range e.posts {
					}
				}()
				ctx := context.Background()
				data := json.RawMessage(`{"n":1}`)
				cpu0 := 0.0
				for _, p := range procs {
					cpu0 += redisCPU(b, p)
				}
				for _, p := range procs {
					p.Client.ConfigResetStat(ctx)
				}
				var next atomic.Int64
				var failed atomic.Bool
				b.SetParallelism(32 / max(1, runtime.GOMAXPROCS(0)))
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					to := make([]string, per)
					for pb.Next() {
						n := int(next.Add(1))
						for k := range to {
							to[k] = users[(n*per+k)%len(users)]
						}
						if _, err := cl.Push(ctx, "", to, data, ""); err != nil {
							if !failed.Swap(true) {
								b.Error(err)
							}
							return
						}
					}
				})
				b.StopTimer()
				cpu := 0.0
				for _, p := range procs {
					cpu += redisCPU(b, p)
				}
				b.ReportMetric((cpu-cpu0)*1e6/float64(b.N*per), "redis-cpu-µs/push")
				for _, p := range procs[:1] {
					st, _ := p.Client.Info(ctx, "commandstats").Result()
					for _, line := range strings.Split(st, "\n") {
						if strings.HasPrefix(line, "cmdstat_evalsha") || strings.HasPrefix(line, "cmdstat_eval:") {
							b.Logf("%s: %s", p.Addr(), strings.TrimSpace(line))
						}
					}
				}
				b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "pushes/s")
				if topo == "cluster" {
					var keys, chans []float64
					for _, p := range procs {
						n, _ := p.Client.DBSize(ctx).Result()
						chs, _ := p.Client.PubSubShardChannels(ctx, "*").Result()
						keys, chans = append(keys, float64(n)), append(chans, float64(len(chs)))
					}
					b.ReportMetric(slices.Max(keys)/slices.Min(keys), "keys-max/min")
					b.ReportMetric(slices.Max(chans)/slices.Min(chans), "channels-max/min")
					b.Logf("keys per primary %v, shard channels per primary %v", keys, chans)
				}
			})
		}
	}
}

package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/server/internal/wstest"
)

// countPushes reads c's frames on a goroutine of its own and adds one to
// n per push, until the connection closes.
func countPushes(c *client, n *atomic.Int64) {
	// The test client's reads have deadlines; these read for as long as
	// the benchmark runs.
	_ = c.NC.SetReadDeadline(time.Time{})
	go func() {
		br := c.BR
		for {
			h, err := ws.ReadHeader(br)
			if err != nil {
				return
			}
			p := make([]byte, h.Length)
			if _, err := io.ReadFull(br, p); err != nil {
				return
			}
			if h.OpCode == ws.OpText && bytes.HasPrefix(p, []byte(`{"type":"push"`)) {
				n.Add(1)
			}
		}
	}()
}

// BenchmarkBatchDeliveries measures deliveries per second of 1,000
// distinct messages to 1,000 users (one each, all connected), sent
// through one node's HTTP API as one POST /v1/push/batch, as 1,000 POST
// /v1/push one after the other, and as 1,000 POST /v1/push from 16
// concurrent callers; on one node and on a cluster of two (the users
// split between them, the calls to the first). An iteration ends when
// every user has its message. History is on (10 per stream), as a
// deployment that resumes has it.
//
//	go test -run '^$' -bench BatchDeliveries -benchtime 20x ./server/
func BenchmarkBatchDeliveries(b *testing.B) {
	const users = 1000
	for _, nodes := range []int{1, 2} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			// The counting clients never answer pings: no idle timeout
			// within the run.
			cfg := Config{APIAddr: "127.0.0.1:0", HistorySize: 10, HistoryTTL: time.Minute,
				ConnConfig: ConnConfig{PingInterval: time.Hour, IdleTimeout: 2 * time.Hour}}
			var servers []*Server
			var r *redisServer
			if nodes == 1 {
				servers = []*Server{startServer(b, cfg)}
			} else {
				r = startRedis(b)
				servers = []*Server{startNode(b, r, "a", cfg), startNode(b, r, "b", cfg)}
			}
			var got atomic.Int64
			for i := range users {
				c, _ := wstest.DialAs(b, servers[i%nodes].Addr().String(), "?user=u"+strconv.Itoa(i), "")
				countPushes(c, &got)
			}
			if r != nil {
				// The nodes have subscribed to their users.
				r.waitSubs("wspush:u:u998", 1)
				r.waitSubs("wspush:u:u999", 1)
			}
			base := "http://" + servers[0].APIAddr().String()
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr}
			// post sends one call and says what went wrong with it, if
			// anything: any answer but 200, a message not delivered.
			post := func(path, body string) error {
				resp, err := hc.Post(base+path, "application/json", strings.NewReader(body))
				if err != nil {
					return err
				}
				rb, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || bytes.Contains(rb, []byte(`"status":5`)) || bytes.Contains(rb, []byte(`"offline":["`)) {
					return fmt.Errorf("%s: %d %.200s", path, resp.StatusCode, rb)
				}
				return nil
			}
			single := func(i, seq int) string {
				return fmt.Sprintf(`{"users":["u%d"],"data":{"n":%d,"seq":%d}}`, i, i, seq)
			}
			wait := func(want int64) {
				deadline := time.Now().Add(30 * time.Second)
				for got.Load() < want {
					if time.Now().After(deadline) {
						k := servers[0].eng.Counters()
						b.Fatalf("%d of %d pushes arrived (node a: out %d, closes %v, lag %d dropped %d, refused %d)", got.Load(), want, k.MessagesOut, k.Closes, k.LagConns, k.LagDropped, k.Refused)
					}
					time.Sleep(100 * time.Microsecond)
				}
			}
			for _, mode := range []string{"batch", "single", "single-16"} {
				b.Run(mode, func(b *testing.B) {
					seq := 0
					start := time.Now()
					for b.Loop() {
						seq++
						want := got.Load() + users
						switch mode {
						case "batch":
							var sb strings.Builder
							sb.WriteString(`{"messages":[`)
							for i := range users {
								if i > 0 {
									sb.WriteByte(',')
								}
								sb.WriteString(single(i, seq))
							}
							sb.WriteString(`]}`)
							if err := post("/v1/push/batch", sb.String()); err != nil {
								b.Fatal(err)
							}
						case "single":
							for i := range users {
								if err := post("/v1/push", single(i, seq)); err != nil {
									b.Fatal(err)
								}
							}
						default:
							var wg sync.WaitGroup
							var next atomic.Int64
							errs := make(chan error, 16)
							for range 16 {
								wg.Add(1)
								go func() {
									defer wg.Done()
									for i := int(next.Add(1)) - 1; i < users; i = int(next.Add(1)) - 1 {
										if err := post("/v1/push", single(i, seq)); err != nil {
											errs <- err
											return
										}
									}
								}()
							}
							wg.Wait()
							close(errs)
							if err := <-errs; err != nil {
								b.Fatal(err)
							}
						}
						wait(want)
					}
					b.ReportMetric(float64(users*b.N)/time.Since(start).Seconds(), "deliveries/s")
				})
			}
		})
	}
}

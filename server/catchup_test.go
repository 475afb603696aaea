package server

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// cutProxy relays TCP to a Redis for one node, and can cut the node off
// from it, as a network fault between the two would, while the other
// nodes keep their own connections: Cut closes every relayed connection
// and turns new ones away until Mend.
type cutProxy struct {
	ln net.Listener
	to string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startCutProxy(t testing.TB, to string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, to: to, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) url() string { return "redis://" + p.ln.Addr().String() + "/0" }

func (p *cutProxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", p.to)
		if err != nil {
			p.mu.Unlock()
			in.Close()
			continue
		}
		p.conns[in], p.conns[out] = struct{}{}, struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		relay := func(dst, src net.Conn) {
			defer p.wg.Done()
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		go relay(out, in)
		go relay(in, out)
	}
}

// Cut closes the node's connections to Redis and refuses new ones.
func (p *cutProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Mend lets the node reach Redis again.
func (p *cutProxy) Mend() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// BenchmarkClusterCatchUp measures the time from Redis's return to the
// last caught-up delivery: node b is cut off from Redis (its connections
// closed, new ones refused) while 100 pushes to a client of b go through
// node a, then let back; the time is from the moment b can reach Redis
// again until its client has read the 100th push, each in order, none
// lost. Run it with -benchtime 20x (docs/benchmarks.md).
func BenchmarkClusterCatchUp(b *testing.B) {
	const k = 100
	r := startRedis(b)
	p := startCutProxy(b, r.Addr())
	cfg := Config{HistorySize: 1000, HistoryTTL: time.Minute}
	a := startNode(b, r, "a", cfg)
	cfg.Redis, cfg.Node = p.url(), "b"
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
			c.expectPush(strconv.Itoa(i))
		}
		ds = append(ds, time.Since(back))
	}
	b.StopTimer()
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(ds[len(ds)/2]), "catchup-p50-ms")
	b.ReportMetric(ms(ds[len(ds)-1]), "catchup-max-ms")
}

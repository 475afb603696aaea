package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/wspush/wspush/server/procfs"
)

// TestMeasureReceipts measures delivery receipts on a real `wspush serve`
// process (docs/benchmarks.md, "Delivery receipts"): the server's CPU per
// delivered push without and with receipts (every client acknowledging
// each push on its own, the worst case), the receipts applied per second
// meanwhile, and the memory of a pending receipt (pushes with receipts to
// users who are offline, so that they stay pending). The clients and the
// backend run in this process, the server in its own, so its CPU time
// (/proc/PID/stat) is the server's alone. It runs only with
// WSPUSH_MEASURE_RECEIPTS=1 (timings are figures, not assertions):
//
//	WSPUSH_MEASURE_RECEIPTS=1 go test -count=1 -run TestMeasureReceipts -v ./server/
func TestMeasureReceipts(t *testing.T) {
	if os.Getenv("WSPUSH_MEASURE_RECEIPTS") != "1" {
		t.Skip("a measurement: WSPUSH_MEASURE_RECEIPTS=1 runs it")
	}
	const clients, perCall = 1000, 100
	rounds := 40
	if r, err := strconv.Atoi(os.Getenv("WSPUSH_MEASURE_ROUNDS")); err == nil {
		rounds = r
	}
	// WSPUSH_MEASURE_BIN measures another build's pushes without
	// receipts (a commit from before them), WSPUSH_MEASURE_PLAIN=1 this
	// build's: the baseline alone, three runs.
	bin := os.Getenv("WSPUSH_MEASURE_BIN")
	baseline := bin != "" || os.Getenv("WSPUSH_MEASURE_PLAIN") == "1"
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "wspush")
		if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
			t.Fatalf("build: %v\n%s", err, out)
		}
	}
	args := []string{"serve", "--addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0", "--loops", "1",
		"--log-format", "json", "--log-level", "info", "--max-rate", "-1"}
	if os.Getenv("WSPUSH_MEASURE_BIN") == "" {
		args = append(args, "--max-receipts", "2000000")
	}
	cmd := exec.Command(bin, args...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addr, api := startLine(t, stderr)
	pid := cmd.Process.Pid

	var got, acked, acks atomic.Int64 // pushes received, ids acknowledged, acknowledgements sent (batched)
	var batched atomic.Bool           // acknowledge as the SDK does: every window, all ids at once
	var window atomic.Int64           // the SDK's receiptDelay, ns
	window.Store(int64(50 * time.Millisecond))
	var wg sync.WaitGroup
	conns := make([]net.Conn, clients)
	held := make([][]string, clients)
	var heldMu sync.Mutex
	for i := range clients {
		nc, _, _, err := ws.Dial(context.Background(), fmt.Sprintf("ws://%s%s?user=u%04d", addr, Path, i))
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = nc
		i := i
		wg.Add(1)
		go func() {
			defer wg.Done()
			var m struct {
				Type    string `json:"type"`
				ID      string `json:"id"`
				Receipt string `json:"receipt"`
			}
			for {
				p, err := wsutil.ReadServerText(nc)
				if err != nil {
					return
				}
				m.Receipt = ""
				if json.Unmarshal(p, &m) != nil || m.Type != "push" {
					continue
				}
				got.Add(1)
				if m.Receipt != "" && batched.Load() {
					heldMu.Lock()
					held[i] = append(held[i], m.Receipt)
					heldMu.Unlock()
				} else if m.Receipt != "" {
					_ = wsutil.WriteClientText(nc, []byte(`{"type":"received","ids":["`+m.Receipt+`"]}`))
					acked.Add(1)
				}
			}
		}()
	}
	stopFlush := make(chan struct{})
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		for {
			select {
			case <-stopFlush:
				return
			case <-time.After(time.Duration(window.Load())):
			}
			heldMu.Lock()
			for i, ids := range held {
				if len(ids) == 0 {
					continue
				}
				b, _ := json.Marshal(map[string]any{"type": "received", "ids": ids})
				_ = wsutil.WriteClientText(conns[i], b)
				acks.Add(1)
				acked.Add(int64(len(ids)))
				held[i] = ids[:0]
			}
			heldMu.Unlock()
		}
	}()
	defer func() {
		close(stopFlush)
		<-flushed
		for _, nc := range conns {
			nc.Close()
		}
		wg.Wait()
	}()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	post := func(body string) {
		resp, err := hc.Post("http://"+api+"/v1/push", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("push: %d %s", resp.StatusCode, b)
		}
	}
	users := func(lo, n int, prefix string) string {
		var b bytes.Buffer
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"%s%04d"`, prefix, lo+i)
		}
		return b.String()
	}
	cpu := func() float64 {
		s, err := procfs.CPU(pid)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	metric := func(name string) float64 {
		resp, err := hc.Get("http://" + api + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				return f
			}
		}
		return 0
	}
	var scrape float64 // the server's CPU seconds for one GET /metrics
	// run pushes rounds x clients deliveries in calls of perCall users,
	// from 4 goroutines, waits for them all (and their receipts), and
	// returns the server's CPU seconds and the wall time.
	run := func(receipt string) (float64, time.Duration) {
		got.Store(0)
		before, start := cpu(), time.Now()
		var pw sync.WaitGroup
		calls := make(chan int, clients/perCall*rounds)
		for r := range rounds {
			for lo := 0; lo < clients; lo += perCall {
				calls <- r*clients + lo
			}
		}
		close(calls)
		for range 4 {
			pw.Add(1)
			go func() {
				defer pw.Done()
				for k := range calls {
					post(`{"users":[` + users(k%clients, perCall, "u") + `],"data":{"n":` + strconv.Itoa(k) + `}` + receipt + `}`)
				}
			}()
		}
		pw.Wait()
		want := int64(clients * rounds)
		deadline := time.Now().Add(time.Minute)
		// Every delivery arrived and, with receipts, every id went back;
		// then the server has applied them all once nothing is pending.
		// Each look costs the server a scrape of /metrics, whose CPU time
		// (scrape, measured first) is taken off.
		for got.Load() < want || (receipt != "" && acked.Load() < want) {
			if time.Now().After(deadline) {
				t.Fatalf("delivered %d of %d, acknowledged %d", got.Load(), want, acked.Load())
			}
			time.Sleep(time.Millisecond)
		}
		scrapes := 0
		for receipt != "" {
			scrapes++
			if metric("wspush_receipts_pending") == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("receipts still pending")
			}
			time.Sleep(10 * time.Millisecond)
		}
		return cpu() - before - float64(scrapes)*scrape, time.Since(start)
	}
	scrape = func() float64 {
		c0 := cpu()
		for range 20 {
			metric("wspush_receipts_pending")
		}
		return (cpu() - c0) / 20
	}()
	t.Logf("one scrape of /metrics: %.2f ms of server CPU (taken off the runs' figures)", scrape*1e3)
	run("") // warm up
	n := float64(clients * rounds)
	plainCPU, plainWall := run("")
	if baseline {
		for range 2 {
			c, wall := run("")
			plainCPU, plainWall = plainCPU+c, plainWall+wall
		}
		t.Logf("%s, without receipts: %.1f µs of server CPU per delivered push (3 runs of %.0f deliveries in %v)",
			bin, plainCPU/n/3*1e6, n, plainWall.Round(time.Millisecond))
		return
	}
	if f := os.Getenv("WSPUSH_MEASURE_PROFILE"); f != "" {
		// A CPU profile of the server during the next run (one acknowledgement per push), for a look at
		// where the time goes (go tool pprof).
		go func() {
			resp, err := hc.Get("http://" + api + "/debug/pprof/profile?seconds=2")
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				_ = os.WriteFile(f, b, 0o600)
			}
		}()
	}
	acked.Store(0)
	rcCPU, rcWall := run(`,"receipt":{"timeout":"30s"}`)
	batched.Store(true)
	t.Logf("without receipts: %.1f µs of server CPU per delivered push (%.0f deliveries in %v, %.0f/s)",
		plainCPU/n*1e6, n, plainWall.Round(time.Millisecond), n/plainWall.Seconds())
	t.Logf("with receipts, one acknowledgement per push: %.1f µs per delivered push, acknowledged (%.0f in %v: %.0f receipts/s); ratio %.2fx",
		rcCPU/n*1e6, n, rcWall.Round(time.Millisecond), n/rcWall.Seconds(), rcCPU/plainCPU)
	for _, w := range []time.Duration{50 * time.Millisecond, 250 * time.Millisecond, time.Second} {
		window.Store(int64(w))
		acks0 := acks.Load()
		acked.Store(0)
		c, wall := run(`,"receipt":{"timeout":"30s"}`)
		t.Logf("with receipts, acknowledged in batches every %v (the SDK's receiptDelay): %.1f µs per delivered push (%.0f in %v: %.0f receipts/s, %.1f ids per acknowledgement); ratio %.2fx",
			w, c/n*1e6, n, wall.Round(time.Millisecond), n/wall.Seconds(), n/float64(acks.Load()-acks0), c/plainCPU)
	}

	// Memory: pending receipts of offline users, 10,000 a call.
	const pending, batch = 200000, 10000
	st0, _ := procfs.ReadStatus(strconv.Itoa(pid))
	for lo := 0; lo < pending; lo += batch {
		post(`{"users":[` + users(lo, batch, "off") + `],"data":{"order":1},"receipt":{"timeout":"10m"}}`)
	}
	st1, _ := procfs.ReadStatus(strconv.Itoa(pid))
	t.Logf("memory: %d pending receipts (users of 8 bytes, 20 messages) took %.0f MiB of RSS: %.0f bytes each",
		pending, float64(st1.RSS-st0.RSS)/(1<<20), float64(st1.RSS-st0.RSS)/pending)
	if p := metric("wspush_receipts_pending"); p != pending {
		t.Fatalf("pending %v, want %d", p, pending)
	}
}

// startLine reads the server's log until its start line and returns the
// listeners' addresses.
func startLine(t *testing.T, r io.Reader) (addr, api string) {
	t.Helper()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var rec struct {
			Msg     string `json:"msg"`
			Addr    string `json:"addr"`
			APIAddr string `json:"api_addr"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "wspush serving" {
			go func() { _, _ = io.Copy(io.Discard, r) }()
			return rec.Addr, rec.APIAddr
		}
	}
	t.Fatal("no start line")
	return "", ""
}

// TestMeasureReceiptsRedis measures what a pending receipt costs Redis in
// a cluster (used_memory of INFO memory), with pushes with receipts to
// offline users. Like TestMeasureReceipts it runs only with
// WSPUSH_MEASURE_RECEIPTS=1.
func TestMeasureReceiptsRedis(t *testing.T) {
	if os.Getenv("WSPUSH_MEASURE_RECEIPTS") != "1" {
		t.Skip("a measurement: WSPUSH_MEASURE_RECEIPTS=1 runs it")
	}
	r := startRedis(t)
	cfg := clusterConfig()
	cfg.MaxReceipts = 1_000_000
	cfg.HistorySize = 0 // the history's streams are not the receipts' cost
	s := startNode(t, r, "a", cfg)
	used := func() int64 {
		info, err := r.rdb.Info(context.Background(), "memory").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		t.Fatal("no used_memory")
		return 0
	}
	const pending, batch = 100000, 10000
	before := used()
	start := time.Now()
	for lo := 0; lo < pending; lo += batch {
		us := make([]string, batch)
		for i := range us {
			us[i] = fmt.Sprintf("off%05d", lo+i)
		}
		if _, _, err := s.PushReceipt(context.Background(), "", us, json.RawMessage(`{"order":1}`), 10*time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	t.Logf("redis: %d pending receipts (users of 8 bytes, %d messages) took %.1f MiB of used_memory: %.0f bytes each; started in %v (%.0f receipts/s)",
		pending, pending/batch, float64(used()-before)/(1<<20), float64(used()-before)/pending, took.Round(time.Millisecond), pending/took.Seconds())
}

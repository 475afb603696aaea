package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/wstest"
	"github.com/wspush/wspush/server/procfs"
)

// BenchmarkUpgradesThroughConnectHook is a whole connection's start, from
// dial to the welcome, with benchClients clients at once, without a
// connect hook and through a local hook that answers at once: an HTTP
// server in a process of its own (this test binary run as the hook), as a
// backend would be. It reports upgrades/s, the CPU this process (server
// and clients) spends per upgrade, and the hook process's. The goal is at
// least 0.7x the upgrades/s without a hook; the clients, the hook and the
// server share the machine.
//
//	go test -run '^$' -bench UpgradesThroughConnectHook -benchtime 20000x ./server/
func BenchmarkUpgradesThroughConnectHook(b *testing.B) {
	hookURL, hookPID := startBenchHook(b)
	for _, tc := range []struct {
		name string
		url  string
	}{{"no-hook", ""}, {"local-hook", hookURL}} {
		b.Run(tc.name, func(b *testing.B) {
			s := startPlain(b, Config{ConnectHook: tc.url, Webhook: WebhookConfig{Secret: "bench-secret"}})
			addr := s.Addr().String()
			var n atomic.Int64
			b.SetParallelism(benchClients / runtime.GOMAXPROCS(0))
			cpu0, _ := procfs.CPU(os.Getpid())
			hook0, _ := procfs.CPU(hookPID)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := connectOnce(addr, fmt.Sprintf("/ws?user=b%d", n.Add(1))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "upgrades/s")
			cpu1, _ := procfs.CPU(os.Getpid())
			hook1, _ := procfs.CPU(hookPID)
			b.ReportMetric((cpu1-cpu0)*1e6/float64(b.N), "cpu-µs/upgrade")
			b.ReportMetric((hook1-hook0)*1e6/float64(b.N), "hook-cpu-µs/upgrade")
		})
	}
}

// connectOnce dials addr, upgrades on path, reads up to the welcome and
// closes.
func connectOnce(addr, path string) error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write([]byte(wstest.UpgradeRequest(path))); err != nil {
		return err
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	// The welcome: a small unmasked text frame.
	head := make([]byte, 2)
	if _, err := br.Read(head[:1]); err != nil {
		return err
	}
	if _, err := br.Read(head[1:]); err != nil {
		return err
	}
	body := make([]byte, head[1]&0x7f)
	if _, err := io.ReadFull(br, body); err != nil {
		return err
	}
	if !strings.Contains(string(body), `"welcome"`) {
		return fmt.Errorf("first message %s", body)
	}
	return nil
}

// benchClients is how many clients connect at once.
var benchClients = 256

// benchHookEnv, set in a child's environment, makes the test binary run
// the benchmark's connect hook instead of the tests (TestMain).
const benchHookEnv = "WSPUSH_BENCH_HOOK"

// runBenchHook serves a connect hook that admits every connection as
// "h-" and its user, says "HOOK" and its address on stdout, and exits when
// stdin closes.
func runBenchHook() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	fmt.Println("HOOK", ln.Addr().String())
	_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var f struct {
			User string `json:"user"`
		}
		_ = json.NewDecoder(r.Body).Decode(&f)
		_, _ = w.Write([]byte(`{"user":"h-` + f.User + `"}`))
	}))
	return 0
}

// startBenchHook runs the test binary as the benchmark's hook and returns
// its URL and pid; it stops with the benchmark.
func startBenchHook(b *testing.B) (string, int) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), benchHookEnv+"=1")
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		in.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "HOOK ")
	if err != nil || !ok {
		b.Fatalf("the hook process said %q: %v", line, err)
	}
	return "http://" + addr + "/connect", cmd.Process.Pid
}

package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/wstest"
)

// BenchmarkUpgradesThroughConnectHook is a whole connection's start, from
// dial to the welcome, with 64 clients at once, without a connect hook and
// through a local hook that answers at once (an HTTP server in this
// process): upgrades/s of the two, for the goal of at least 0.7x. The
// clients, the hook and the server share the machine.
//
//	go test -run '^$' -bench UpgradesThroughConnectHook -benchtime 20000x ./server/
func BenchmarkUpgradesThroughConnectHook(b *testing.B) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var f struct {
			User string `json:"user"`
		}
		_ = json.NewDecoder(r.Body).Decode(&f)
		w.Write([]byte(`{"user":"h-` + f.User + `"}`))
	}))
	defer hook.Close()
	for _, tc := range []struct {
		name string
		url  string
	}{{"no-hook", ""}, {"local-hook", hook.URL}} {
		b.Run(tc.name, func(b *testing.B) {
			s := startPlain(b, Config{ConnectHook: tc.url, Webhook: WebhookConfig{Secret: "bench-secret"}})
			addr := s.Addr().String()
			var n atomic.Int64
			b.SetParallelism(benchClients / runtime.GOMAXPROCS(0))
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

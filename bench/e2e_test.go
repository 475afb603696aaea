package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wspush/wspush/server"
)

// TestMain lets the test binary act as a bench worker process: --workers
// re-executes os.Args[0] with "bench MODE --worker SPEC".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "bench" {
		if err := Main(os.Args[2:], os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startEcho runs an in-process `wspush serve --echo` on a free port.
func startEcho(t *testing.T) string {
	t.Helper()
	srv := startServe(t, server.Config{ConnConfig: server.ConnConfig{Addr: "127.0.0.1:0", Echo: true, Loops: 1}})
	return "ws://" + srv.Addr().String() + "/ws"
}

// startServe runs an in-process server with cfg until the test ends, and
// returns once it answers requests.
func startServe(t *testing.T, cfg server.Config) *server.Server {
	t.Helper()
	srv := server.New(cfg)
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	waitServing(t, srv.Addr().String())
	return srv
}

// waitServing waits until the server at addr answers a request: Ready
// closes before gnet starts its goroutines, and an answer proves they run,
// so that runOK's leak check does not count them.
func waitServing(t *testing.T, addr string) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write([]byte("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Read(make([]byte, 1)); err != nil {
		t.Fatalf("server does not answer: %v", err)
	}
}

// testConfig bounds a run tightly, so a broken bench fails fast instead of
// hanging the test.
func testConfig(mode, url string, conns int) Config {
	return Config{
		Mode:        mode,
		URL:         url,
		Conns:       conns,
		Loops:       1,
		Hold:        200 * time.Millisecond,
		Duration:    500 * time.Millisecond,
		Grace:       3 * time.Second,
		DialTimeout: 5 * time.Second,
		Timeout:     30 * time.Second,
	}
}

// runOK runs cfg, expects no error at all, and checks that the run left
// no goroutine behind: every dialer, event loop, worker reader and API
// keep-alive connection is gone when Run returns.
func runOK(t *testing.T, cfg Config) *Result {
	t.Helper()
	ignore := []goleak.Option{
		goleak.IgnoreCurrent(),
		// The in-process server's ticker may start after startEcho returns.
		goleak.IgnoreTopFunction("github.com/panjf2000/gnet/v2.(*eventloop).ticker"),
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	goleak.VerifyNone(t, ignore...)
	if !res.Pass || res.Errors != 0 {
		t.Fatalf("run failed: errors %d %v notes %v", res.Errors, res.Failures, res.Notes)
	}
	return res
}

func TestConnectAgainstEchoServer(t *testing.T) {
	res := runOK(t, testConfig(ModeConnect, startEcho(t), 300))
	if res.Conns.Upgraded != 300 || res.Conns.Failed != 0 || res.Conns.Dropped != 0 {
		t.Fatalf("conns %+v, want 300 upgraded", res.Conns)
	}
	if res.Handshake == nil || res.Handshake.Count != 300 {
		t.Fatalf("handshake latencies %+v, want 300", res.Handshake)
	}
	if res.Conns.PerSec <= 0 {
		t.Fatalf("no upgrade rate: %+v", res.Conns)
	}
}

func TestEchoAgainstEchoServer(t *testing.T) {
	cfg := testConfig(ModeEcho, startEcho(t), 200)
	cfg.Size = 300 // a 16-bit length header
	res := runOK(t, cfg)
	if res.Conns.Upgraded != 200 {
		t.Fatalf("upgraded %d, want 200", res.Conns.Upgraded)
	}
	// Every connection has sent at least one message and every echo that
	// came back was one the bench had sent.
	if res.Messages.Sent < 200 || res.Messages.Received == 0 || res.Messages.Received > res.Messages.Sent {
		t.Fatalf("messages %+v", res.Messages)
	}
	if res.Latency == nil || res.Latency.Count != res.Messages.Received {
		t.Fatalf("latency %+v for %d echoes", res.Latency, res.Messages.Received)
	}
}

func TestIdleOverTwoWorkerProcesses(t *testing.T) {
	cfg := testConfig(ModeIdle, startEcho(t), 300)
	cfg.Workers = 2
	cfg.ServerPID = os.Getpid() // the server runs in this process
	res := runOK(t, cfg)
	if res.Conns.Upgraded != 300 {
		t.Fatalf("upgraded %d, want 300", res.Conns.Upgraded)
	}
	if res.Bench.Processes != 3 {
		t.Fatalf("bench processes %d, want 2 workers and the coordinator", res.Bench.Processes)
	}
	if res.Server == nil || res.Server.RSSAfter == 0 {
		t.Fatalf("server stats %+v", res.Server)
	}
}

func TestEchoOverTwoWorkersFromSourceIPs(t *testing.T) {
	cfg := testConfig(ModeEcho, startEcho(t), 100)
	cfg.Workers = 2
	var err error
	if cfg.SourceIPs, err = ParseSourceIPs("127.0.0.2-127.0.0.3"); err != nil {
		t.Fatal(err)
	}
	res := runOK(t, cfg)
	if res.Conns.Upgraded != 100 || res.Messages.Received == 0 {
		t.Fatalf("conns %+v messages %+v", res.Conns, res.Messages)
	}
	if res.Latency == nil || res.Latency.Count != res.Messages.Received {
		t.Fatalf("merged latency %+v for %d echoes", res.Latency, res.Messages.Received)
	}
}

// refusedAddr is a loopback address where connections are refused for as
// long as the test runs: a socket bound to a port of the kernel's choosing
// that never listens, which also keeps any other process from listening
// there. A port picked free and closed again could be taken before the
// test connects to it.
func refusedAddr(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(sa.(*syscall.SockaddrInet4).Port)
}

// TestConnectCountsFailuresByCause: a closed port is "refused", a wrong
// path the server's HTTP status.
func TestConnectCountsFailuresByCause(t *testing.T) {
	closed := refusedAddr(t)

	res, err := Run(context.Background(), testConfig(ModeConnect, "ws://"+closed+"/ws", 20))
	if err != nil {
		t.Fatal(err)
	}
	if res.Failures["refused"] != 20 || res.Conns.Failed != 20 || res.Pass {
		t.Fatalf("closed port: failures %v conns %+v pass %v", res.Failures, res.Conns, res.Pass)
	}

	url := startEcho(t)
	cfg := testConfig(ModeConnect, url[:len(url)-len("/ws")]+"/nope", 20)
	cfg.MaxErrors = 20
	res, err = Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Failures["http_404"] != 20 || !res.Pass {
		t.Fatalf("wrong path: failures %v pass %v", res.Failures, res.Pass)
	}
}

func TestRunRefusesMoreConnectionsThanDescriptors(t *testing.T) {
	cfg := testConfig(ModeIdle, "ws://127.0.0.1:1/ws", 1<<24)
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "--workers") {
		t.Fatalf("err = %v, want advice to use more --workers", err)
	}
}

// TestConnectCountsSilentServerAsTimeout: a server that accepts TCP but
// never answers the upgrade costs --dial-timeout per connection, no more.
func TestConnectCountsSilentServerAsTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range held {
			c.Close()
		}
	})
	cfg := testConfig(ModeConnect, "ws://"+ln.Addr().String()+"/ws", 10)
	cfg.DialTimeout = 300 * time.Millisecond
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Failures["timeout"] != 10 || res.Conns.Upgraded != 0 {
		t.Fatalf("failures %v conns %+v, want 10 timeouts", res.Failures, res.Conns)
	}
}

// Connections spread over several endpoints in turn: --url with two
// servers puts half of them on each.
func TestConnectionsSpreadOverSeveralURLs(t *testing.T) {
	a := startServe(t, server.Config{ConnConfig: server.ConnConfig{Addr: "127.0.0.1:0", Echo: true, Loops: 1}})
	b := startServe(t, server.Config{ConnConfig: server.ConnConfig{Addr: "127.0.0.1:0", Echo: true, Loops: 1}})
	cfg := testConfig(ModeIdle, "ws://"+a.Addr().String()+"/ws, ws://"+b.Addr().String()+"/ws", 20)
	res := runOK(t, cfg)
	if res.Conns.Upgraded != 20 || a.Stats().Upgrades != 10 || b.Stats().Upgrades != 10 {
		t.Fatalf("upgraded %d: %d on the first server, %d on the second", res.Conns.Upgraded, a.Stats().Upgrades, b.Stats().Upgrades)
	}
	if err := (Config{Mode: ModeIdle, URL: "ws://x/ws,http://y/ws"}).check(); err == nil {
		t.Fatal("an http:// endpoint among several was accepted")
	}
}

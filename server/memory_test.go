package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wspush/wspush/server"
)

// Environment variables of the idle-memory benchmark.
const (
	// memConnsEnv sets how many idle connections BenchmarkIdleMemory
	// opens. Empty means memDefaultConns.
	memConnsEnv = "WSPUSH_MEM_CONNS"
	// memProfileEnv names a file to which BenchmarkIdleMemory writes a
	// heap profile, sampled at every allocation, while all its
	// connections are open. Empty means no profile.
	memProfileEnv = "WSPUSH_MEM_HEAPPROFILE"
	// memClientEnv, "addr,count", turns TestMemClientHelper into the
	// benchmark's client process.
	memClientEnv = "WSPUSH_MEM_CLIENT"
)

const (
	memDefaultConns = 10000
	// memWarmConns connections are opened and closed before the empty
	// server is measured, so that loop state, pools and code pages that
	// every server has once it has served anyone are in both samples.
	memWarmConns = 100
	// memIdle is the server's ping interval and idle timeout during the
	// benchmark: long enough that nothing is sent or closed while the
	// connections are measured.
	memIdle = 10 * time.Minute
	// memDialers is the number of goroutines the client dials with.
	memDialers = 16
)

// memUpgradeRequest uses the sample key of RFC 6455 1.3, whose
// Sec-WebSocket-Accept is memAccept.
const (
	memUpgradeRequest = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	memAccept = "\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
)

// memResult is the outcome of one idle-memory measurement. Per-conn
// figures are slopes: (full - empty) / conns.
type memResult struct {
	conns       int
	empty, full memSample
}

func (r memResult) perConn(f func(memSample) uint64) float64 {
	return (float64(f(r.full)) - float64(f(r.empty))) / float64(r.conns)
}

// memLast is the result of the benchmark's single measurement, reported
// again when the framework asks for more than one iteration.
var memLast memResult

// BenchmarkIdleMemory measures what an idle upgraded connection costs the
// server process: the RSS and Go heap of the process with N connections
// open, minus those of the same server with none, divided by N, both taken
// after a GC that returns free memory to the OS. The clients live in a
// child process (TestMemClientHelper) so that the RSS is the server's own
// and each process stays under its open-files limit. N is $WSPUSH_MEM_CONNS,
// 10,000 by default.
//
// The measurement runs once whatever b.N is: run it with -benchtime 1x.
// Kernel socket memory (about 3.7 KB per socket in slab) is not in RSS and
// not counted.
func BenchmarkIdleMemory(b *testing.B) {
	if b.N > 1 {
		// The first, single iteration ran under -benchtime: measuring
		// again would open N more connections for the same figures.
		memReport(b, memLast)
		return
	}
	n := memDefaultConns
	if v := os.Getenv(memConnsEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive number of connections", memConnsEnv, v)
		}
	}
	profile := os.Getenv(memProfileEnv)
	if profile != "" {
		defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
		runtime.MemProfileRate = 1
	}

	srv := memServe(b)
	if maxConns := srv.Config().MaxConns; n > maxConns {
		b.Fatalf("%d connections are over the server's cap of %d (open-files limit): lower %s", n, maxConns, memConnsEnv)
	}
	addr := srv.Addr().String()

	warm := memStartClients(b, addr, memWarmConns)
	memWaitConns(b, srv, memWarmConns)
	warm.stop(b)
	memWaitConns(b, srv, 0)

	r := memResult{conns: n}
	r.empty = memMeasure(b)
	clients := memStartClients(b, addr, n)
	memWaitConns(b, srv, n)
	// The last upgrades have been answered; give the loops and the ticker
	// a moment to go quiet before the heap is sampled.
	time.Sleep(500 * time.Millisecond)
	r.full = memMeasure(b)
	if got := srv.Conns(); got != int64(n) {
		b.Fatalf("%d connections open after the measurement, want %d: some were closed while idle", got, n)
	}
	if profile != "" {
		memWriteHeapProfile(b, profile, n)
	}
	clients.stop(b)
	memWaitConns(b, srv, 0)

	memLast = r
	memReport(b, r)
	b.Logf("%d idle conns, %d loops, GOOS/GOARCH %s/%s, %s", n, srv.Config().Loops, runtime.GOOS, runtime.GOARCH, runtime.Version())
	b.Logf("%-12s %14s %14s %12s", "", "empty", "full", "per conn")
	for _, row := range []struct {
		name string
		f    func(memSample) uint64
	}{
		{"VmRSS", func(s memSample) uint64 { return s.rss }},
		{"RssAnon", func(s memSample) uint64 { return s.rssAnon }},
		{"HeapInuse", func(s memSample) uint64 { return s.heapInuse }},
		{"HeapAlloc", func(s memSample) uint64 { return s.heapAlloc }},
		{"HeapObjects", func(s memSample) uint64 { return s.heapObjects }},
		{"Sys", func(s memSample) uint64 { return s.sys }},
		{"StackInuse", func(s memSample) uint64 { return s.stackInuse }},
	} {
		b.Logf("%-12s %14d %14d %12.1f", row.name, row.f(r.empty), row.f(r.full), r.perConn(row.f))
	}
}

// memReport reports r's per-connection figures as the benchmark's metrics.
func memReport(b *testing.B, r memResult) {
	b.ReportMetric(0, "ns/op") // one wall-clock run of setup and teardown: meaningless
	b.ReportMetric(r.perConn(func(s memSample) uint64 { return s.rss }), "rss-B/conn")
	b.ReportMetric(r.perConn(func(s memSample) uint64 { return s.heapInuse }), "heap-B/conn")
	b.ReportMetric(r.perConn(func(s memSample) uint64 { return s.heapObjects }), "objs/conn")
}

// memServe starts an echo server on a free loopback port whose pings and
// idle timeouts will not fire during the benchmark, and shuts it down when
// b ends.
func memServe(b *testing.B) *server.Server {
	srv := server.New(server.Config{
		Addr:         "127.0.0.1:0",
		Echo:         true,
		PingInterval: memIdle,
		IdleTimeout:  memIdle,
	})
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	select {
	case <-srv.Ready():
	case err := <-errc:
		b.Fatalf("Serve: %v", err)
	case <-time.After(10 * time.Second):
		b.Fatal("server not ready after 10s")
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			b.Errorf("Shutdown: %v", err)
		}
		if err := <-errc; err != nil {
			b.Errorf("Serve: %v", err)
		}
	})
	return srv
}

// memWaitConns waits until srv has exactly n upgraded connections.
func memWaitConns(b *testing.B, srv *server.Server, n int) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for srv.Conns() != int64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("%d upgraded connections after 1m, want %d", srv.Conns(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// memSample is one reading of the process's memory, in bytes (objects for
// heapObjects).
type memSample struct {
	rss, rssAnon                                       uint64 // from /proc/self/status
	heapInuse, heapAlloc, heapObjects, sys, stackInuse uint64 // from runtime.MemStats
}

// memMeasure collects garbage, returns free pages to the OS and reads the
// process's memory.
func memMeasure(b *testing.B) memSample {
	b.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := memSample{
		heapInuse:   ms.HeapInuse,
		heapAlloc:   ms.HeapAlloc,
		heapObjects: ms.HeapObjects,
		sys:         ms.Sys,
		stackInuse:  ms.StackInuse,
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatalf("RSS: %v (the benchmark needs Linux's /proc)", err)
	}
	for line := range strings.Lines(string(status)) {
		name, value, _ := strings.Cut(line, ":")
		var dst *uint64
		switch name {
		case "VmRSS":
			dst = &s.rss
		case "RssAnon":
			dst = &s.rssAnon
		default:
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			b.Fatalf("/proc/self/status: %q: %v", line, err)
		}
		*dst = kb << 10
	}
	if s.rss == 0 {
		b.Fatal("/proc/self/status has no VmRSS")
	}
	return s
}

// memWriteHeapProfile writes the heap profile, with n conns open, to path.
func memWriteHeapProfile(b *testing.B, path string, n int) {
	b.Helper()
	runtime.GC() // the heap profile is as of the last completed GC
	f, err := os.Create(path)
	if err != nil {
		b.Fatalf("heap profile: %v", err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatalf("heap profile: %v", err)
	}
	b.Logf("heap profile with %d conns open written to %s", n, path)
}

// memClients is a running client process holding idle connections.
type memClients struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *memOutput
	exited chan struct{} // closed when cmd.Wait returns
	err    error         // cmd.Wait's result, once exited is closed
}

// memStartClients re-executes the test binary as TestMemClientHelper with
// n connections to addr and returns once all of them are upgraded. The
// process is killed when b ends if stop has not ended it before.
func memStartClients(b *testing.B, addr string, n int) *memClients {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMemClientHelper$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), memClientEnv+"="+addr+","+strconv.Itoa(n))
	out := &memOutput{ready: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = out, out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start client process: %v", err)
	}
	c := &memClients{cmd: cmd, stdin: stdin, out: out, exited: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.exited
	})
	select {
	case <-out.ready:
	case <-c.exited:
		b.Fatalf("client process exited before its %d connections were ready: %v\n%s", n, c.err, out.String())
	case <-time.After(2 * time.Minute):
		b.Fatalf("client process: %d connections not ready after 2m\n%s", n, out.String())
	}
	return c
}

// stop closes the client process's stdin, which makes it check and close
// its connections and exit, and fails b unless it passed.
func (c *memClients) stop(b *testing.B) {
	b.Helper()
	_ = c.stdin.Close()
	select {
	case <-c.exited:
	case <-time.After(time.Minute):
		_ = c.cmd.Process.Kill()
		<-c.exited
		b.Fatalf("client process did not exit within 1m of stdin closing\n%s", c.out.String())
	}
	if c.err != nil {
		b.Fatalf("client process: %v\n%s", c.err, c.out.String())
	}
}

// memOutput collects the client process's output and closes ready at its
// first "ready" line. os/exec writes to it from one goroutine; String may
// be called from another.
type memOutput struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan struct{}
	seen  bool
}

func (o *memOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	if out := o.buf.Bytes(); !o.seen && (bytes.HasPrefix(out, []byte("ready\n")) || bytes.Contains(out, []byte("\nready\n"))) {
		o.seen = true
		close(o.ready)
	}
	return len(p), nil
}

func (o *memOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// TestMemClientHelper is BenchmarkIdleMemory's client process, not a test
// of its own: without $WSPUSH_MEM_CLIENT it skips. With "addr,count" it
// opens count connections to addr, checks that each is switched to
// WebSocket with the right accept key, prints "ready" and holds them
// without a byte sent until stdin closes. Then it checks that every
// connection is still open and that the server sent nothing on any of them
// while they sat idle.
func TestMemClientHelper(t *testing.T) {
	spec := os.Getenv(memClientEnv)
	if spec == "" {
		t.Skip("the client process of BenchmarkIdleMemory; runs only under it")
	}
	addr, count, _ := strings.Cut(spec, ",")
	n, err := strconv.Atoi(count)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want addr,count", memClientEnv, spec)
	}

	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	var (
		wg    sync.WaitGroup
		next  = make(chan int)
		errMu sync.Mutex
		first error
	)
	for range min(memDialers, n) {
		wg.Go(func() {
			for i := range next {
				c, err := memUpgrade(addr)
				if c != nil {
					conns[i] = c
				}
				if err != nil {
					errMu.Lock()
					if first == nil {
						first = fmt.Errorf("conn %d: %w", i, err)
					}
					errMu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}

	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)

	var bad []string
	for i, c := range conns {
		if err := memPeekIdle(c); err != nil {
			bad = append(bad, fmt.Sprintf("conn %d: %v", i, err))
		}
	}
	if len(bad) > 0 {
		t.Fatalf("%d of %d connections were not open and silent after sitting idle; first: %s",
			len(bad), n, strings.Join(bad[:min(3, len(bad))], "; "))
	}
}

// memUpgrade dials addr and completes a WebSocket upgrade. It returns the
// connection, if one was made, with any error so that the caller closes it.
func memUpgrade(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return c, err
	}
	if _, err := io.WriteString(c, memUpgradeRequest); err != nil {
		return c, fmt.Errorf("send upgrade: %w", err)
	}
	var head []byte
	buf := make([]byte, 512)
	for !bytes.Contains(head, []byte("\r\n\r\n")) {
		k, err := c.Read(buf)
		head = append(head, buf[:k]...)
		if err != nil {
			return c, fmt.Errorf("read response after %q: %w", head, err)
		}
	}
	resp, rest, _ := bytes.Cut(head, []byte("\r\n\r\n"))
	switch {
	case !bytes.HasPrefix(resp, []byte("HTTP/1.1 101 ")):
		return c, fmt.Errorf("response %q, want 101 Switching Protocols", resp)
	case !bytes.Contains(append(resp, "\r\n"...), []byte(memAccept)):
		return c, fmt.Errorf("response %q lacks %q", resp, memAccept)
	case len(rest) > 0:
		return c, fmt.Errorf("%d unexpected bytes after the 101 response: %q", len(rest), rest)
	}
	return c, c.SetDeadline(time.Time{})
}

// errMemSent and errMemClosed are why an idle connection fails the check.
var (
	errMemSent   = errors.New("server sent bytes on an idle connection")
	errMemClosed = errors.New("server closed an idle connection")
)

// memPeekIdle reports whether the server has sent anything on c or closed
// it, without blocking: a non-blocking peek that finds nothing means c is
// open and silent.
func memPeekIdle(c net.Conn) error {
	sc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return err
	}
	var (
		n    int
		rerr error
		p    [16]byte
	)
	if err := sc.Read(func(fd uintptr) bool {
		n, _, rerr = syscall.Recvfrom(int(fd), p[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true // never wait: EAGAIN is the answer wanted
	}); err != nil {
		return err
	}
	switch {
	case errors.Is(rerr, syscall.EAGAIN):
		return nil
	case rerr != nil:
		return rerr
	case n == 0:
		return errMemClosed
	default:
		return fmt.Errorf("%w: % x", errMemSent, p[:n])
	}
}

package server_test

import (
	"bufio"
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
	"runtime/metrics"
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
	// connections are open. Empty means no profile. Sampling every
	// allocation costs RSS of its own, so the RSS of such a run is not
	// the figure to quote.
	memProfileEnv = "WSPUSH_MEM_HEAPPROFILE"
	// memClientEnv, "addr,count,welcome[,deflate]", turns
	// TestMemClientHelper into the benchmark's client process; welcome is 1
	// when the server sends a welcome message after the 101 (protocol
	// mode), 0 when it does not; deflate 1 offers permessage-deflate and
	// requires the server to accept it.
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
	// memDeflateOffer is the permessage-deflate offer browsers send.
	memDeflateOffer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
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

// memLast holds, by benchmark name, the result of the single
// measurement, reported again when the framework asks for more than one
// iteration.
var memLast = map[string]memResult{}

// BenchmarkIdleMemory measures what an idle upgraded connection costs the
// server process: the RSS and Go heap of the process with N connections
// open, minus those of the same server with none, divided by N, both taken
// after a GC that returns free memory to the OS. The clients live in a
// child process (TestMemClientHelper) so that the RSS is the server's own
// and each process stays under its open-files limit. N is $WSPUSH_MEM_CONNS,
// 10,000 by default.
//
// It runs twice: "echo" with Config.Echo, where a connection is only its
// socket, frame state and timing-wheel entry, and "protocol", the client
// protocol in development mode, where each connection also joins the pool
// as an anonymous user of its own and gets a welcome message.
//
// "echo-deflate" and "protocol-deflate" are the same with every client
// offering permessage-deflate, as browsers do, and the server accepting
// it: with no context takeover a connection keeps no codec state, so the
// figures should match those without (issue 15: within 32 bytes of RSS).
//
// "echo-nogc" and "protocol-nogc" read the process as peerbench and an
// operator's dashboard do: no GC forced before either sample, each taken
// after a settle of memSettle. What they add to the others is the garbage
// the connect burst left and the free pages the runtime kept; the engine
// collects and returns those itself once the burst has gone quiet
// (engine/release.go). Unlike peerbench they still warm the server up
// first, so that code pages and the memory profiler's hash table, fixed
// costs, are in both samples.
//
// The measurement runs once whatever b.N is: run it with -benchtime 1x.
// Kernel socket memory (about 3.7 KB per socket in slab) is not in RSS and
// not counted.
func BenchmarkIdleMemory(b *testing.B) {
	b.Run("echo", func(b *testing.B) { memBench(b, true, false, true) })
	b.Run("protocol", func(b *testing.B) { memBench(b, false, false, true) })
	b.Run("echo-deflate", func(b *testing.B) { memBench(b, true, true, true) })
	b.Run("protocol-deflate", func(b *testing.B) { memBench(b, false, true, true) })
	b.Run("echo-nogc", func(b *testing.B) { memBench(b, true, false, false) })
	b.Run("protocol-nogc", func(b *testing.B) { memBench(b, false, false, false) })
}

// memSettle is how long the -nogc runs wait before each sample, as
// peerbench does.
const memSettle = 3 * time.Second

// memBench is one run of BenchmarkIdleMemory against a server with
// Config.Echo set to echo; gc forces a collection before each sample.
func memBench(b *testing.B, echo, deflate, gc bool) {
	if r, ok := memLast[b.Name()]; ok && b.N > 1 {
		// The first, single iteration ran under -benchtime: measuring
		// again would open N more connections for the same figures.
		memReport(b, r)
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

	srv := memServe(b, echo)
	if maxConns := srv.Config().MaxConns; n > maxConns {
		b.Fatalf("%d connections are over the server's cap of %d (open-files limit): lower %s", n, maxConns, memConnsEnv)
	}
	addr := srv.Addr().String()

	warm := memStartClients(b, addr, memWarmConns, !echo, deflate)
	warm.dial(b)
	memWaitConns(b, srv, memWarmConns)
	warm.stop(b)
	memWaitConns(b, srv, 0)

	// The client process runs, with its pipes and the goroutines that
	// read them, before the empty sample, so that only its connections
	// differ between the two samples.
	clients := memStartClients(b, addr, n, !echo, deflate)
	r := memResult{conns: n}
	if !gc {
		time.Sleep(memSettle)
	}
	r.empty = memMeasure(b, gc)
	start := time.Now()
	clients.dial(b)
	memWaitConns(b, srv, n)
	fill := time.Since(start)
	// The last upgrades have been answered; give the loops and the ticker
	// a moment to go quiet before the heap is sampled.
	settle := 500 * time.Millisecond
	if !gc {
		settle = memSettle
	}
	time.Sleep(settle)
	r.full = memMeasure(b, gc)
	if got := srv.Conns(); got != int64(n) {
		b.Fatalf("%d connections open after the measurement, want %d: some were closed while idle", got, n)
	}
	if profile != "" {
		memWriteHeapProfile(b, profile, n)
	}
	start = time.Now()
	clients.stop(b)
	memWaitConns(b, srv, 0)
	drain := time.Since(start)

	memLast[b.Name()] = r
	memReport(b, r)
	b.Logf("%d idle conns, %d loops, %s/%s, %s; opened in %v, closed in %v",
		n, srv.Config().Loops, runtime.GOOS, runtime.GOARCH, runtime.Version(), fill.Round(time.Millisecond), drain.Round(time.Millisecond))
	memLogTable(b, r)
}

// memLogTable logs every reading of r, empty and full, and its slope.
func memLogTable(b *testing.B, r memResult) {
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
		{"RssFile", func(s memSample) uint64 { return s.rssFile }},
		{"GCCycles", func(s memSample) uint64 { return s.gcCycles }},
		{"HeapUnused", func(s memSample) uint64 { return s.heapUnused }},
		{"HeapFree", func(s memSample) uint64 { return s.heapFree }},
		{"MSpanInuse", func(s memSample) uint64 { return s.mspan }},
		{"GCMetadata", func(s memSample) uint64 { return s.gcMeta }},
		{"ProfBuckets", func(s memSample) uint64 { return s.profBuckets }},
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

// memServe starts a server on a free loopback port whose pings and idle
// timeouts will not fire during the benchmark, and shuts it down when b
// ends.
func memServe(b *testing.B, echo bool) *server.Server {
	srv := server.New(server.Config{ConnConfig: server.ConnConfig{Addr: "127.0.0.1:0",
		Echo:         echo,
		PingInterval: memIdle,
		IdleTimeout:  memIdle},
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
	rss, rssAnon, rssFile                              uint64 // from /proc/self/status
	heapInuse, heapAlloc, heapObjects, sys, stackInuse uint64 // from runtime.MemStats
	// From runtime/metrics: GC cycles run, heap bytes in spans but not in
	// objects (fragmentation), free heap pages not returned to the OS,
	// and the runtime's own metadata: mspans, GC metadata (mark bits,
	// arena tables) and the memory profiler's buckets.
	gcCycles, heapUnused, heapFree, mspan, gcMeta, profBuckets uint64
}

// memMetrics are the runtime/metrics a memSample reads, in its order.
var memMetrics = []string{
	"/gc/cycles/total:gc-cycles",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/metadata/mspan/inuse:bytes",
	"/memory/classes/metadata/other:bytes",
	"/memory/classes/profiling/buckets:bytes",
}

// memMeasure reads the process's memory; with gc it first collects
// garbage and returns free pages to the OS.
func memMeasure(b *testing.B, gc bool) memSample {
	b.Helper()
	if gc {
		runtime.GC()
		debug.FreeOSMemory()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := memSample{
		heapInuse:   ms.HeapInuse,
		heapAlloc:   ms.HeapAlloc,
		heapObjects: ms.HeapObjects,
		sys:         ms.Sys,
		stackInuse:  ms.StackInuse,
	}
	samples := make([]metrics.Sample, len(memMetrics))
	for i, name := range memMetrics {
		samples[i].Name = name
	}
	metrics.Read(samples)
	for i, dst := range []*uint64{&s.gcCycles, &s.heapUnused, &s.heapFree, &s.mspan, &s.gcMeta, &s.profBuckets} {
		if samples[i].Value.Kind() == metrics.KindUint64 {
			*dst = samples[i].Value.Uint64()
		}
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
		case "RssFile":
			dst = &s.rssFile
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

// memStartClients re-executes the test binary as TestMemClientHelper, to
// open n connections to addr once dial is called, each answered by a
// welcome message if welcome is set, and returns once the process is up.
// The process is killed when b ends if stop has not ended it before.
func memStartClients(b *testing.B, addr string, n int, welcome, deflate bool) *memClients {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMemClientHelper$", "-test.count=1", "-test.v")
	spec := addr + "," + strconv.Itoa(n) + ",0"
	if welcome {
		spec = addr + "," + strconv.Itoa(n) + ",1"
	}
	if deflate {
		spec += ",1"
	}
	cmd.Env = append(os.Environ(), memClientEnv+"="+spec)
	out := new(memOutput)
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
	c.await(b, "started", 30*time.Second)
	return c
}

// dial has the client process open its connections and returns once all
// of them are upgraded.
func (c *memClients) dial(b *testing.B) {
	b.Helper()
	if _, err := io.WriteString(c.stdin, "dial\n"); err != nil {
		b.Fatalf("client process: %v\n%s", err, c.out.String())
	}
	c.await(b, "ready", 2*time.Minute)
}

// await waits for the client process to print line.
func (c *memClients) await(b *testing.B, line string, timeout time.Duration) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for !c.out.hasLine(line) {
		select {
		case <-c.exited:
			b.Fatalf("client process exited before %q: %v\n%s", line, c.err, c.out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.Fatalf("client process: no %q after %v\n%s", line, timeout, c.out.String())
		}
	}
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

// memOutput collects the client process's output. os/exec writes to it
// from one goroutine while the benchmark reads it from another.
type memOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *memOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

// hasLine reports whether the output so far has line on a line of its own.
func (o *memOutput) hasLine(line string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.buf.Bytes()
	return bytes.HasPrefix(out, []byte(line+"\n")) || bytes.Contains(out, []byte("\n"+line+"\n"))
}

func (o *memOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// TestMemClientHelper is BenchmarkIdleMemory's client process, not a test
// of its own: without $WSPUSH_MEM_CLIENT it skips. With "addr,count,welcome"
// it prints "started" and waits for a "dial" line on stdin. Then it opens
// count connections to addr and checks that each is switched to WebSocket
// with the right accept key, followed by exactly one welcome message if
// welcome is 1 and by nothing if it is 0. It prints "ready" and holds the
// connections without a byte sent until stdin closes; then it checks that
// every connection is still open and that the server sent nothing on any
// of them while they sat idle.
func TestMemClientHelper(t *testing.T) {
	spec := os.Getenv(memClientEnv)
	if spec == "" {
		t.Skip("the client process of BenchmarkIdleMemory; runs only under it")
	}
	var (
		addr       string
		n, welcome int
		deflate    bool
	)
	if f := strings.Split(spec, ","); len(f) == 3 || len(f) == 4 {
		addr = f[0]
		n, _ = strconv.Atoi(f[1])
		welcome, _ = strconv.Atoi(f[2])
		deflate = len(f) == 4 && f[3] == "1"
	}
	if addr == "" || n <= 0 || welcome < 0 || welcome > 1 {
		t.Fatalf("%s=%q: want addr,count,welcome", memClientEnv, spec)
	}

	fmt.Println("started")
	in := bufio.NewReader(os.Stdin)
	if line, err := in.ReadString('\n'); line != "dial\n" {
		t.Fatalf("stdin: %q, %v; want a dial line", line, err)
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
				c, err := memUpgrade(addr, welcome == 1, deflate)
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
	_, _ = io.Copy(io.Discard, in)

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

// memUpgrade dials addr and completes a WebSocket upgrade, then reads the
// welcome message if welcome is set. It returns the connection, if one was
// made, with any error so that the caller closes it.
func memUpgrade(addr string, welcome, deflate bool) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return c, err
	}
	req := memUpgradeRequest
	if deflate {
		req = strings.TrimSuffix(req, "\r\n") + memDeflateOffer + "\r\n"
	}
	if _, err := io.WriteString(c, req); err != nil {
		return c, fmt.Errorf("send upgrade: %w", err)
	}
	r := bufio.NewReaderSize(c, 512)
	var head []byte
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		line, err := r.ReadSlice('\n')
		head = append(head, line...)
		if err != nil {
			return c, fmt.Errorf("read response after %q: %w", head, err)
		}
	}
	switch {
	case !bytes.HasPrefix(head, []byte("HTTP/1.1 101 ")):
		return c, fmt.Errorf("response %q, want 101 Switching Protocols", head)
	case !bytes.Contains(head, []byte(memAccept)):
		return c, fmt.Errorf("response %q lacks %q", head, memAccept)
	case deflate && !bytes.Contains(head, []byte("\r\nSec-Websocket-Extensions: permessage-deflate")) && !bytes.Contains(head, []byte("\r\nSec-WebSocket-Extensions: permessage-deflate")):
		return c, fmt.Errorf("response %q did not accept permessage-deflate", head)
	}
	if welcome {
		if err := memReadWelcome(r); err != nil {
			return c, err
		}
	}
	if k := r.Buffered(); k > 0 {
		rest, _ := r.Peek(k)
		return c, fmt.Errorf("%d unexpected bytes after the handshake: %q", k, rest)
	}
	return c, c.SetDeadline(time.Time{})
}

// memReadWelcome reads one server frame from r and checks that it is a
// welcome message.
func memReadWelcome(r *bufio.Reader) error {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return fmt.Errorf("read welcome: %w", err)
	}
	// RFC 6455 5.2: a server's frames are unmasked; a welcome is one final
	// text frame, short enough for a 7-bit or 16-bit length.
	n := int(h[1] & 0x7f)
	switch {
	case h[0] != 0x81 || h[1]&0x80 != 0 || n == 127:
		return fmt.Errorf("welcome frame header % x, want a short unmasked final text frame", h)
	case n == 126:
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return fmt.Errorf("read welcome: %w", err)
		}
		n = int(ext[0])<<8 | int(ext[1])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return fmt.Errorf("read welcome: %w", err)
	}
	if !bytes.HasPrefix(p, []byte(`{"type":"welcome"`)) {
		return fmt.Errorf("first message %q, want a welcome", p)
	}
	return nil
}

// Why an idle connection fails the client's final check.
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

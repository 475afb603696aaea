package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

func TestAPIOffLoopbackWithoutAKeyRefusesToStart(t *testing.T) {
	cmd := command(t, "serve", "--addr", "127.0.0.1:0", "--api-addr", "0.0.0.0:0")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "api-key") {
		t.Fatalf("exit %v, output %s", err, out)
	}
}

func TestSIGTERMSendsGoingAwayAndExitsZero(t *testing.T) {
	cmd := command(t, "serve", "--addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0", "--log-format", "json")
	logs, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewReader(logs)
	var seen strings.Builder
	started, err := readServing(lines, &seen)
	if err != nil {
		t.Fatalf("%v\n%s", err, seen.String())
	}
	addr := started.Addr
	go func() { _, _ = io.Copy(io.Discard, lines) }()

	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_, _ = nc.Write([]byte("GET /ws?user=alice HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	br := bufio.NewReader(nc)
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var disconnect, closeCode bool
	for !closeCode {
		h, err := ws.ReadHeader(br)
		if err != nil {
			t.Fatalf("reading frames: %v", err)
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(br, p); err != nil {
			t.Fatal(err)
		}
		switch h.OpCode {
		case ws.OpText:
			disconnect = disconnect || strings.Contains(string(p), `"code":4000`)
		case ws.OpClose:
			if len(p) < 2 || binary.BigEndian.Uint16(p) != 1001 {
				t.Fatalf("close frame %q, want 1001", p)
			}
			closeCode = true
		}
	}
	if !disconnect {
		t.Fatal("no going_away disconnect message before the close frame")
	}
	// Answer the close: the server then has no connection left and exits.
	mask := [4]byte{1, 2, 3, 4}
	body := []byte{0x03, 0xe9}
	ws.Cipher(body, mask, 0)
	_, _ = nc.Write(append([]byte{0x88, 0x82, 1, 2, 3, 4}, body...))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v, want status 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the server did not exit")
	}
}

// Issue 13 §2: an address other hosts reach, without a JWT secret, is
// refused, by serve and by --check-config alike, with the fix named.
func TestDevelopmentModeOffLoopbackExitsTwoNamingTheFix(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--check-config", "--addr", "0.0.0.0:19080"},
		{"serve", "--check-config", "--addr", ":8080"},
		{"serve", "--addr", "0.0.0.0:0", "--api-addr", ""},
	} {
		out, err := command(t, args...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("%v: exit %v, want 2; output %s", args, err, out)
		}
		for _, fix := range []string{"--jwt-secret", "--insecure", "--addr 127.0.0.1:8080"} {
			if !strings.Contains(string(out), fix) {
				t.Errorf("%v: the message does not name %s: %s", args, fix, out)
			}
		}
	}
	for _, args := range [][]string{
		{"serve", "--check-config"}, // the default listens on loopback
		{"serve", "--check-config", "--addr", ":8080", "--insecure"},
		{"serve", "--check-config", "--addr", ":8080", "--jwt-secret", strings.Repeat("k", 32)},
	} {
		if out, err := command(t, args...).CombinedOutput(); err != nil {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
	out, _ := command(t, "serve", "--check-config").Output()
	if !strings.Contains(string(out), `addr: "127.0.0.1:8080"`) {
		t.Errorf("the default addr is not loopback:\n%s", out)
	}
}

// startServe runs wspush serve with args, on 127.0.0.1:0, and an
// open-files limit of nofile, and waits for its start line: it returns
// the addresses that line reports and whether the child still runs.
func startServe(t *testing.T, nofile int, args ...string) (started serving, alive func() bool) {
	t.Helper()
	cmd := command(t, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	cmd.Env = append(cmd.Env, "WSPUSH_TEST_NOFILE="+strconv.Itoa(nofile))
	logs, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	ready := make(chan error, 1)
	var out strings.Builder
	go func() {
		br := bufio.NewReader(logs)
		var err error
		started, err = readServing(br, &out)
		ready <- err
		_, _ = io.Copy(&out, br)
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("server logs:\n%s", out.String())
		}
	})
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("the server did not start: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no start line within 10 s")
	}
	return started, func() bool {
		select {
		case <-exited:
			return false
		default:
			return true
		}
	}
}

// echoConn upgrades a connection to an echo server and checks one echo.
func echoConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, _, _, err := ws.Dial(t.Context(), "ws://"+addr+"/ws")
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	echoOnce(t, nc, "hello")
	return nc
}

func echoOnce(t *testing.T, nc net.Conn, msg string) {
	t.Helper()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := wsutil.WriteClientText(nc, []byte(msg)); err != nil {
		t.Fatalf("echo write: %v", err)
	}
	p, err := wsutil.ReadServerText(nc)
	if err != nil || string(p) != msg {
		t.Fatalf("echo: %q %v", p, err)
	}
}

// Issue 13 §1: with 256 descriptors, 245 idle keep-alive API connections
// and then an upgrade once made gnet's accept fail with EMFILE, which
// stopped the engine and the process.
func TestDescriptorExhaustionLeavesTheEngineRunning(t *testing.T) {
	started, alive := startServe(t, 256, "--api-addr", "127.0.0.1:0", "--echo", "--loops", "2", "--max-conns", "50")
	addr, api := started.Addr, started.APIAddr

	var before []net.Conn
	for range 5 {
		before = append(before, echoConn(t, addr))
	}
	// 245 idle keep-alive API connections, each after one GET /healthz.
	// Each is answered: 200, or 503 if the cap is full of busy ones.
	unanswered := 0
	for range 245 {
		nc, err := net.Dial("tcp", api)
		if err != nil {
			t.Fatalf("API connection: %v", err)
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(time.Second))
		_, _ = nc.Write([]byte("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
		if rsp, err := http.ReadResponse(bufio.NewReader(nc), nil); err != nil {
			unanswered++
		} else {
			rsp.Body.Close()
		}
	}
	// The upgrade that once stopped the engine.
	after := echoConn(t, addr)

	// A flood of TCP connections past every budget: the ones beyond the
	// WebSocket share are answered 503 and closed, none stops the engine.
	var flood []net.Conn
	refused := 0
	for range 300 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		flood = append(flood, nc)
	}
	for _, nc := range flood {
		_ = nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		b := make([]byte, 12)
		if n, _ := io.ReadFull(nc, b); n == 12 && string(b) == "HTTP/1.1 503" {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("no connection of the flood was refused: the budget is not enforced")
	}
	if unanswered > 0 {
		t.Fatalf("%d API connections got no answer", unanswered)
	}
	if !alive() {
		t.Fatal("the server exited")
	}
	for i, nc := range append(before, after) {
		echoOnce(t, nc, fmt.Sprintf("still here %d", i))
	}
	for _, nc := range flood {
		nc.Close()
	}
	// Descriptors free up: upgrades are accepted again.
	var again net.Conn
	deadline := time.Now().Add(10 * time.Second)
	for again == nil {
		nc, _, _, err := ws.Dial(t.Context(), "ws://"+addr+"/ws")
		switch {
		case err == nil:
			again = nc
			t.Cleanup(func() { nc.Close() })
		case time.Now().After(deadline):
			t.Fatalf("no upgrade accepted after the flood: %v", err)
		default:
			time.Sleep(50 * time.Millisecond) // the flood's sockets are closing in the loops
		}
	}
	echoOnce(t, again, "again")

	// /v1/stats counts what was refused.
	rsp, err := http.Get("http://" + api + "/v1/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer rsp.Body.Close()
	var st struct {
		AcceptsRefused  int64 `json:"accepts_refused"`
		APIConnsRefused int64 `json:"api_conns_refused"`
		APIConns        int   `json:"api_conns"`
	}
	if err := json.NewDecoder(rsp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.AcceptsRefused < int64(refused) || st.APIConns > 16 {
		t.Fatalf("stats %+v, want at least %d refused accepts and at most 16 API connections", st, refused)
	}
	if !alive() {
		t.Fatal("the server exited")
	}
}

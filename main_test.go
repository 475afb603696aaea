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
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestMain lets the test binary be the wspush command: with WSPUSH_TEST_MAIN
// set it runs main() on the arguments after "--".
func TestMain(m *testing.M) {
	if os.Getenv("WSPUSH_TEST_MAIN") == "1" {
		if err := setNoFile(os.Getenv("WSPUSH_TEST_NOFILE")); err != nil {
			panic(err)
		}
		for i, a := range os.Args {
			if a == "--" {
				os.Args = append([]string{"wspush"}, os.Args[i+1:]...)
				break
			}
		}
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestFlagsWinOverTheEnvironment(t *testing.T) {
	env := map[string]string{"WSPUSH_MAX_CONNS": "77", "WSPUSH_ADDR": "127.0.0.1:1", "WSPUSH_ECHO": "true"}
	f, err := parseServe([]string{"--addr", "127.0.0.1:2"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if f.cfg.Addr != "127.0.0.1:2" || f.cfg.MaxConns != 77 || !f.cfg.Echo {
		t.Fatalf("addr %q max-conns %d echo %v", f.cfg.Addr, f.cfg.MaxConns, f.cfg.Echo)
	}
}

func TestBadEnvironmentValueIsAnError(t *testing.T) {
	_, err := parseServe(nil, func(k string) string {
		if k == "WSPUSH_IDLE_TIMEOUT" {
			return "soon"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "WSPUSH_IDLE_TIMEOUT") {
		t.Fatalf("err %v, want one naming WSPUSH_IDLE_TIMEOUT", err)
	}
}

// command runs the test binary as wspush with args.
func command(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "WSPUSH_TEST_MAIN=1")
	return cmd
}

func TestVersion(t *testing.T) {
	out, err := command(t, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "wspush ") {
		t.Fatalf("%s %v", out, err)
	}
}

func TestAPIOffLoopbackWithoutAKeyRefusesToStart(t *testing.T) {
	cmd := command(t, "serve", "--addr", "127.0.0.1:0", "--api-addr", "0.0.0.0:0")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "api-key") {
		t.Fatalf("exit %v, output %s", err, out)
	}
}

// serving is what a wspush serve child's JSON start line reports.
type serving struct {
	Addr    string `json:"addr"`
	APIAddr string `json:"api_addr"`
}

// readServing reads the JSON log lines of a wspush serve child from logs
// up to its start line and returns the addresses that line reports: the
// kernel's choice when the child listens on port 0, so that no test picks
// a port and then races every other process to bind it. Each line read
// is written to seen as well.
func readServing(logs *bufio.Reader, seen io.Writer) (serving, error) {
	for {
		line, err := logs.ReadBytes('\n')
		_, _ = seen.Write(line)
		var l struct {
			Msg string `json:"msg"`
			serving
		}
		if json.Unmarshal(line, &l) == nil && l.Msg == "wspush serving" {
			if l.Addr == "" {
				return l.serving, fmt.Errorf("start line without an addr: %s", line)
			}
			return l.serving, nil
		}
		if err != nil {
			return serving{}, fmt.Errorf("no start line in the logs: %w", err)
		}
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

package server

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A reader that stops holds at most --max-pending of the server's memory,
// the kernel's send queue included: with the kernel's send-buffer
// autotuning a socket alone took about 4 MiB before the 1 MiB limit saw
// anything (issue 12).
func TestSlowReaderIsCutAtMaxPendingKernelIncluded(t *testing.T) {
	const maxPending = 256 << 10
	s := startServer(t, Config{MaxPending: maxPending, MaxRate: -1, CloseTimeout: time.Minute})
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			// The reader's own window stays small: what piles up is the
			// server's.
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096)
		})
	}}
	nc, err := d.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte(strings.Replace(upgradeRequest("/ws?user=slow"), "\r\n\r\n", "\r\n\r\n", 1))); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	data := json.RawMessage(`"` + strings.Repeat("x", 16<<10) + `"`)
	pushed := 0
	for i := 0; i < 2000; i++ {
		res, err := s.Push(context.Background(), []string{"slow"}, data)
		if err != nil {
			t.Fatal(err)
		}
		if res.Delivered == 0 {
			break // disconnected as too slow: out of the pool
		}
		pushed += len(data)
	}
	if pushed >= 2000*len(data) {
		t.Fatal("the reader was never cut")
	}
	// gnet's buffer and the kernel's queue, each up to about a frame
	// past the limit when it is checked, and the reader's 4 KiB window.
	if limit := maxPending + 2*(16<<10) + 64<<10; pushed > limit {
		t.Fatalf("%d KiB written to a reader that reads nothing before it was cut at --max-pending %d KiB (want at most %d KiB)",
			pushed>>10, maxPending>>10, limit>>10)
	}
	t.Logf("cut after %d KiB", pushed>>10)
}

package engine

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"golang.org/x/sys/unix"
)

// A reader that stops holds at most --max-pending of the server's memory,
// the kernel's send queue included: with the kernel's send-buffer
// autotuning a socket alone took about 4 MiB before the 1 MiB limit saw
// anything (issue 12).
func TestSlowReaderIsCutAtMaxPendingKernelIncluded(t *testing.T) {
	const maxPending = 256 << 10
	s := startEngine(t, Config{MaxPending: maxPending, MaxRate: -1, CloseTimeout: time.Minute}, nil)
	dialSmallWindow(t, s, "slow")
	data := json.RawMessage(`"` + strings.Repeat("x", 16<<10) + `"`)
	pushed := 0
	for i := 0; i < 2000; i++ {
		res, err := push(s, []string{"slow"}, data)
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

// A reader cut as too slow learns why: the frames still waiting in user
// space are dropped and the disconnect goes right behind what the kernel
// and gnet's share hold, instead of behind the whole backlog, where the
// reader would have had to read --max-pending first and, being slow,
// rarely got that far before CloseTimeout dropped the socket (issue 12).
func TestSlowReaderGetsItsDisconnectAheadOfTheBacklog(t *testing.T) {
	const maxPending = 1 << 20
	s := startEngine(t, Config{MaxPending: maxPending, MaxRate: -1, CloseTimeout: time.Minute}, nil)
	nc, br := dialSmallWindow(t, s, "laggard")
	filler := strings.Repeat("x", 16<<10)
	pushed, bytes := 0, 0
	for ; pushed < 2000; pushed++ {
		data := json.RawMessage(fmt.Sprintf(`{"seq":%d,"f":"%s"}`, pushed, filler))
		res, err := push(s, []string{"laggard"}, data)
		if err != nil {
			t.Fatal(err)
		}
		if res.Delivered == 0 {
			break // cut as too slow
		}
		bytes += len(data)
	}
	if pushed == 2000 {
		t.Fatal("the reader was never cut")
	}
	if k := s.Counters(); k.LagDropped == 0 {
		t.Fatalf("nothing dropped from the lag: %+v", k)
	}

	// Now the reader reads: an in-order prefix of the pushes, then its
	// disconnect and the close frame.
	_ = nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, before := 0, 0
	for {
		h, err := ws.ReadHeader(br)
		if err != nil {
			t.Fatalf("after %d pushes: %v", got, err)
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(br, p); err != nil {
			t.Fatal(err)
		}
		if h.OpCode == ws.OpClose {
			if code, _ := ws.ParseCloseFrameData(p); code != 4002 {
				t.Fatalf("close %d %q", code, p)
			}
			t.Fatal("close frame before the disconnect message")
		}
		if h.OpCode != ws.OpText {
			continue
		}
		var m struct {
			Type string `json:"type"`
			Code int    `json:"code"`
			Data struct {
				Seq int `json:"seq"`
			} `json:"data"`
		}
		if err := json.Unmarshal(p, &m); err != nil {
			t.Fatal(err)
		}
		if m.Type == "disconnect" {
			if m.Code != 4002 {
				t.Fatalf("disconnect %s", p)
			}
			break
		}
		if m.Type == "welcome" && got == 0 {
			continue
		}
		if m.Type != "push" || m.Data.Seq != got {
			t.Fatalf("message %d: %.80s", got, p)
		}
		got++
		before += len(p)
	}
	h, err := ws.ReadHeader(br)
	if err != nil || h.OpCode != ws.OpClose {
		t.Fatalf("after the disconnect: %v %v", h, err)
	}
	// What the reader had to take before its reason: the kernel's queue,
	// gnet's 16 KiB share and a frame in flight, well under the 1 MiB it
	// would have had to read with the whole backlog ahead of the reason.
	t.Logf("%d pushes (%d KiB) written, %d (%d KiB) read before the disconnect", pushed, bytes>>10, got, before>>10)
	if before > maxPending/2 {
		t.Fatalf("%d KiB read before the disconnect, at --max-pending %d KiB", before>>10, maxPending>>10)
	}
}

// A reader that falls behind and then catches up gets every message, in
// order, whole: its lag moves on to gnet as gnet drains, at each tick
// once no more pushes come, and is let go of when empty.
func TestLaggingReaderThatCatchesUpGetsEverything(t *testing.T) {
	s := startEngine(t, Config{MaxPending: 16 << 20, MaxRate: -1}, nil)
	nc, br := dialSmallWindow(t, s, "late")
	// Frames of odd sizes, so that the socket takes frames in part.
	const n = 400
	for i := range n {
		data := json.RawMessage(fmt.Sprintf(`{"seq":%d,"f":"%s"}`, i, strings.Repeat("y", 1000+i*37%9000)))
		if res, err := push(s, []string{"late"}, data); err != nil || res.Delivered != 1 {
			t.Fatalf("push %d: %+v %v", i, res, err)
		}
	}
	if k := s.Counters(); k.LagConns != 1 || k.LagBytes == 0 {
		t.Fatalf("the reader does not lag: %+v", k)
	}
	_ = nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	for got := 0; got < n; {
		p, op, err := wsutil.ReadServerData(struct {
			io.Reader
			io.Writer
		}{br, nc})
		if err != nil {
			t.Fatalf("after %d pushes: %v", got, err)
		}
		if op != ws.OpText || bytes.Contains(p, []byte(`"type":"welcome"`)) {
			continue
		}
		if !bytes.Contains(p, []byte(fmt.Sprintf(`{"seq":%d,"f":"`, got))) {
			t.Fatalf("message %d: %.80s", got, p)
		}
		got++
	}
	waitFor(t, 2*time.Second, func() error {
		if k := s.Counters(); k.LagConns != 0 || k.LagBytes != 0 || k.LagDropped != 0 {
			return fmt.Errorf("lag left: %d conns, %d bytes, %d dropped", k.LagConns, k.LagBytes, k.LagDropped)
		}
		return nil
	})
}

// dialSmallWindow upgrades a connection as user whose own receive window
// stays small (4 KiB), so that what piles up when it does not read is the
// server's; it returns the socket and the reader past the 101.
func dialSmallWindow(t *testing.T, s *Engine, user string) (net.Conn, *bufio.Reader) {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096)
		})
	}}
	nc, err := d.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if _, err := nc.Write([]byte(upgradeRequest("/ws?user=" + user))); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	return nc, br
}

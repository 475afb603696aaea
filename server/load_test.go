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
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/wire"

	"github.com/gobwas/ws"
)

// Load tests move millions of messages: they run in the non-race pass of
// make test and are skipped with -short (the race pass).

// roomMember is a test client that joins a room and checks that the pushes
// it receives carry 1, 2, 3... as data, in order.
type roomMember struct {
	nc   net.Conn
	br   *bufio.Reader
	next int // the data it expects next
	err  error
	got  atomic.Int64 // pushes received in order, for the publisher's pacing
}

func joinRoom(t *testing.T, s *Server, user, room string) *roomMember {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	m := &roomMember{nc: nc, br: bufio.NewReaderSize(nc, 16<<10), next: 1}
	req := upgradeRequest("/ws?user=" + user)
	if _, err := nc.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(m.br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade %s: %v %v", user, resp, err)
	}
	if _, err := nc.Write(maskedFrame(ws.OpText, true, []byte(`{"type":"join","room":"`+room+`","ref":1}`))); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"welcome"`, `"ack"`} {
		p, err := m.text()
		if err != nil || !bytes.Contains(p, []byte(want)) {
			t.Fatalf("%s: got %q %v, want %s", user, p, err, want)
		}
	}
	_ = nc.SetReadDeadline(time.Time{})
	return m
}

// text reads the next text message, skipping pings.
func (m *roomMember) text() ([]byte, error) {
	for {
		h, err := ws.ReadHeader(m.br)
		if err != nil {
			return nil, err
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(m.br, p); err != nil {
			return nil, err
		}
		switch h.OpCode {
		case ws.OpText:
			return p, nil
		case ws.OpClose:
			return p, io.EOF
		}
	}
}

// receive reads pushes until it has seen n of them in order, or an error.
func (m *roomMember) receive(n int) {
	for m.next <= n {
		p, err := m.text()
		if err != nil {
			m.err = fmt.Errorf("after %d pushes: %w", m.next-1, err)
			return
		}
		if got := pushData(p); got != m.next {
			m.err = fmt.Errorf("push %d arrived where %d was due: %s", got, m.next, p)
			return
		}
		m.next++
		m.got.Add(1)
	}
}

// pushData is the integer data of a push envelope, or -1.
func pushData(p []byte) int {
	i := bytes.Index(p, []byte(`"data":`))
	if i < 0 || !bytes.HasPrefix(p, []byte(`{"type":"push"`)) {
		return -1
	}
	p = p[i+len(`"data":`):]
	j := bytes.IndexByte(p, ',')
	if j < 0 {
		return -1
	}
	n, err := strconv.Atoi(string(p[:j]))
	if err != nil {
		return -1
	}
	return n
}

func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func TestLoadSlowMemberOfA2000MemberRoom(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: runs in the non-race pass")
	}
	const (
		members  = 2000
		messages = 10000
	)
	s := startServer(t, Config{ConnConfig: ConnConfig{MaxRate: -1,
		SendBuffer: 16 << 10,
		// gnet's buffer and the kernel's queue: the readers keep up within
		// it even on a loaded machine (the 10,000 pushes are about 1 MB
		// per member, so the slow one still passes it well before the end).
		MaxPending:   256 << 10,
		CloseTimeout: 2 * time.Minute, // the slow member reads its disconnect at the end
		IdleTimeout:  10 * time.Minute,
		PingInterval: 10 * time.Minute},
	})
	all := make([]*roomMember, members)
	for i := range all {
		all[i] = joinRoom(t, s, "m"+strconv.Itoa(i), "big")
	}
	slow := all[0]
	_ = slow.nc.(*net.TCPConn).SetReadBuffer(4 << 10)
	before := heapInuse()

	var wg sync.WaitGroup
	for _, m := range all[1:] {
		wg.Go(func() { m.receive(messages) })
	}
	// One publisher, a client of the server that is not in the room:
	// its publishes go through the server's publish path and the loops'
	// bounded queues (--max-queue), in the order it sends them.
	pub, _ := dialAs(t, s, "?user=publisher", "")
	frames := make([][]byte, messages)
	for i := range frames {
		frames[i] = maskedFrame(ws.OpText, true, []byte(`{"type":"publish","room":"big","data":`+strconv.Itoa(i+1)+`}`))
	}
	// In steps of 500, each once the members that read have all taken
	// the step before: the server may run as far ahead of 1,999 reader
	// goroutines on two cores as it likes, but then a member that keeps
	// up could pass --max-pending too; the slow one falls behind anyway.
	const step = 500
	for i := 0; i < messages; i += step {
		waitFor(t, 30*time.Second, func() error {
			for j, m := range all[1:] {
				if m.got.Load() < int64(i) {
					return errorf("member %d is at %d of %d", j+1, m.got.Load(), i)
				}
			}
			return nil
		})
		pub.Write(bytes.Join(frames[i:min(i+step, messages)], nil))
	}
	wg.Wait()
	for i, m := range all[1:] {
		if m.err != nil {
			t.Fatalf("member %d: %v", i+1, m.err)
		}
	}
	waitFor(t, 10*time.Second, func() error {
		// The members but the slow one, and the publisher.
		if n := s.Stats().Users; n != members {
			return errorf("the slow member is still in the room")
		}
		return nil
	})
	after := heapInuse()
	t.Logf("heap in use: %d KiB before publishing, %d KiB after", before>>10, after>>10)
	if after > before+4<<20 {
		t.Errorf("heap grew by %d KiB", (after-before)>>10)
	}

	// The slow member reads what reached it: a prefix in order, then
	// its disconnect and the close frame.
	_ = slow.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		p, err := slow.text()
		if err == io.EOF {
			t.Fatalf("close frame before the disconnect message, after %d pushes", slow.next-1)
		}
		if err != nil {
			t.Fatalf("slow member, after %d pushes: %v", slow.next-1, err)
		}
		if n := pushData(p); n > 0 {
			if n != slow.next {
				t.Fatalf("slow member got push %d where %d was due", n, slow.next)
			}
			slow.next++
			continue
		}
		var d map[string]any
		if json.Unmarshal(p, &d) != nil || d["type"] != "disconnect" || d["code"] != 4002.0 {
			t.Fatalf("slow member got %s", p)
		}
		break
	}
	if slow.next-1 >= messages {
		t.Fatalf("the slow member received all %d pushes", messages)
	}
	t.Logf("the slow member got %d of %d pushes before its disconnect", slow.next-1, messages)
	if n := s.eng.Counters().Closes[wire.ReasonSlowConsumer]; n != 0 {
		t.Fatalf("closed before the close handshake: %d", n)
	}
	_, _ = slow.nc.Write(maskedFrame(ws.OpClose, true, []byte{0x0f, 0xa2}))
	waitFor(t, 5*time.Second, closeCount(s, wire.ReasonSlowConsumer))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if n, err := s.Publish(ctx, "big", json.RawMessage(`"still here"`)); err != nil || n != members-1 {
		t.Fatalf("publish after: %d %v", n, err)
	}
	runtime.KeepAlive(all) // the clients' memory stays out of the heap comparison
}

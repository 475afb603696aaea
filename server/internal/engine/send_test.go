package engine

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"

	"github.com/wspush/wspush/pool"
	"github.com/wspush/wspush/server/internal/wire"
)

// Runs of pushes written with one sendmsg(2) to a socket that takes only
// part of them: what the kernel did not take goes to gnet's buffer from
// the exact byte where it stopped, and later pushes queue behind it, so
// the reader gets every push once and in order.
func TestFullSocketKeepsCoalescedPushesInOrder(t *testing.T) {
	const messages = 300
	s := startEngine(t, Config{
		Loops:        1,
		MaxRate:      -1,
		SendBuffer:   32 << 10,
		MaxPending:   64 << 20,
		IdleTimeout:  10 * time.Minute,
		PingInterval: 10 * time.Minute,
	}, nil)
	m := wsDial(t, s, "/ws?user=reader")
	if err := wsutil.WriteClientText(m, []byte(`{"type":"join","room":"r","ref":1}`)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"welcome"`, `"ack"`} {
		if p, err := readText(m, 5*time.Second); err != nil || !strings.Contains(string(p), want) {
			t.Fatalf("got %q %v, want %s", p, err, want)
		}
	}

	// Hold the loop while the pushes queue, so that they are written in
	// runs of many frames, each run with one sendmsg.
	l := s.loopList()[0]
	hold, held := make(chan struct{}), make(chan struct{})
	l.post(job{fn: func(*loop) int { close(held); <-hold; return 0 }})
	<-held
	// Frames of 20 KB: a run of three is most of a socket's buffer, so
	// sends stop inside a run and inside a frame.
	pad := strings.Repeat("x", 20<<10)
	for i := 1; i <= messages; i++ {
		f := wire.PushFrame(s.NextID(), "", []byte(`{"n":`+strconv.Itoa(i)+`,"pad":"`+pad+`"}`), "r", "", 0, 0)
		if err := s.PostRoom("r", f, 0); err != nil {
			t.Fatal(err)
		}
	}
	close(hold)

	// Everything is written or queued: the socket must have refused some.
	backlogged := onLoops(s, func(l *loop) int {
		n := 0
		l.s.pool.Shard(l.idx).Each(func(pm *pool.Member) {
			if c := pm.Conn.(*conn); c.buffered() > 0 {
				n++
			}
		})
		return n
	})
	if backlogged != 1 {
		t.Fatalf("%d connections with bytes queued in gnet, want the reader's", backlogged)
	}

	for i := 1; i <= messages; i++ {
		p, err := readText(m, 30*time.Second)
		if err != nil {
			t.Fatalf("after %d pushes: %v", i-1, err)
		}
		var env struct {
			Data struct {
				N   int    `json:"n"`
				Pad string `json:"pad"`
			} `json:"data"`
		}
		if err := json.Unmarshal(p, &env); err != nil || env.Data.N != i || env.Data.Pad != pad {
			t.Fatalf("push %d: n %d, %d bytes of pad, %v", i, env.Data.N, len(env.Data.Pad), err)
		}
	}
}

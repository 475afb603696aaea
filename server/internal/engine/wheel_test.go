package engine

import (
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"

	"github.com/wspush/wspush/server/internal/wire"
)

// next never runs past the first non-empty slot: add lowers it, advance
// sets it to the first slot with a conn, or a turn away when none has.
func TestWheelNextIsTheFirstDueSlot(t *testing.T) {
	var w wheel
	w.next.Store(w.done + wheelSlots)
	a, b := &conn{}, &conn{}
	w.add(a, 50)
	w.add(b, 20)
	if n := w.next.Load(); n != 20 {
		t.Fatalf("next %d after adds at 50 and 20, want 20", n)
	}
	var fired []*conn
	w.advance(20, func(c *conn) { fired = append(fired, c) })
	if len(fired) != 1 || fired[0] != b {
		t.Fatalf("fired %v at 20, want b", fired)
	}
	if n := w.next.Load(); n != 50 {
		t.Fatalf("next %d after running 20, want 50", n)
	}
	w.remove(a)
	w.advance(30, func(c *conn) { t.Fatalf("fired %p from an empty wheel", c) })
	if n := w.next.Load(); n != 30+wheelSlots {
		t.Fatalf("next %d with an empty wheel at 30, want %d", n, 30+wheelSlots)
	}
	// A deadline past the wheel's span is parked in the last slot it
	// reaches, and next says so.
	w.add(a, 30+5*wheelSlots)
	if n := w.next.Load(); n != 30+wheelSlots-1 {
		t.Fatalf("next %d for a parked conn, want %d", n, 30+wheelSlots-1)
	}
}

// A loop whose wheel has nothing due for a long while gets no tick tasks,
// yet what it does meanwhile is timed by the current tick: a handshake
// begun after the quiet spell gets its whole timeout, and the timeout
// still fires.
func TestQuietLoopSleepsAndKeepsTime(t *testing.T) {
	s := startEngine(t, Config{
		Echo:             true,
		Loops:            1,
		HandshakeTimeout: 2 * time.Second,
		PingInterval:     10 * time.Minute,
		IdleTimeout:      20 * time.Minute,
	}, nil)
	c := wsDial(t, s, "/ws") // the loop exists; its only deadline is minutes away
	done0 := onLoops(s, func(l *loop) int { return int(l.wheel.done) })
	waitFor(t, 5*time.Second, func() error {
		if d := int(s.tickNow.Load()) - done0; d < 10 {
			return errorf("%d ticks since the wheel last ran", d)
		}
		return nil
	})

	// Nothing has touched the loop since done0 was read: the handshake's
	// OnOpen is the first callback after the quiet spell.
	now := int(s.tickNow.Load())
	half := dial(t, s)
	half.Write([]byte("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"))
	var seen, done int
	waitFor(t, time.Second, func() error {
		seen = -1
		done = onLoops(s, func(l *loop) int {
			l.wheel.each(func(hc *conn) {
				if hc.state == stateHandshake {
					seen = int(hc.seen)
				}
			})
			return int(l.wheel.done)
		})
		if seen < 0 {
			return errorf("the half-sent handshake is not in the wheel")
		}
		return nil
	})
	if done != done0 {
		t.Fatalf("the wheel ran from tick %d to %d with nothing due", done0, done)
	}
	if seen < now {
		t.Fatalf("a handshake begun at tick %d is timed from tick %d", now, seen)
	}
	half.ExpectEOF()
	if n := s.closes[wire.ReasonHandshakeTimeout].Load(); n != 1 {
		t.Fatalf("%d handshake timeouts, want 1", n)
	}
	if err := wsutil.WriteClientText(c, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if p, err := readText(c, 5*time.Second); err != nil || string(p) != "still here" {
		t.Fatalf("echo %q %v", p, err)
	}
}

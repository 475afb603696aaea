package engine

import (
	"errors"
	"testing"

	"github.com/panjf2000/gnet/v2"
)

// resetConn is a gnet.Conn whose peer has gone: its Write fails, and, as
// gnet does on a write error, closes the connection inside the call
// (OnClose runs: the conn is closed and its lag dropped). Only what
// moveLag uses is implemented.
type resetConn struct {
	gnet.Conn
	c      *conn
	writes int
}

func (r *resetConn) Write(b []byte) (int, error) {
	r.writes++
	r.c.state = stateClosed
	r.c.dropLag()
	return 0, errors.New("connection reset by peer")
}

func (r *resetConn) OutboundBuffered() int { return 0 }

// Fd is -1: the raw send fails and sends nothing.
func (r *resetConn) Fd() int { return -1 }

// A write that closes the connection while its lag moves on leaves the
// lag dropped and what it still held counted, and moveLag touches nothing of it afterwards
// (it used to index the emptied lag and panic on the event loop).
func TestLagMovedOntoAConnectionThatResetsIsDropped(t *testing.T) {
	s := New(Config{}, nil, nil)
	l := newLoop(s, nil, 0)
	c := &conn{l: l, state: stateOpen}
	rc := &resetConn{c: c}
	c.gc = rc
	// Four frames of 10 KiB: the first goes to gnet (its share is 16 KiB),
	// the other three stay in the lag when the write resets.
	f := make([]byte, 10<<10)
	c.keep(f, f, f, f)
	if c.lagBytes() == 0 || l.lagBytes.Load() == 0 {
		t.Fatal("nothing kept")
	}
	c.moveLag()
	if rc.writes != 1 || c.state != stateClosed {
		t.Fatalf("%d writes, state %d", rc.writes, c.state)
	}
	if c.lagBytes() != 0 || l.lagBytes.Load() != 0 {
		t.Fatalf("lag left: %d bytes, gauge %d", c.lagBytes(), l.lagBytes.Load())
	}
	if n := s.lagDropped.Load(); n != 3 {
		t.Fatalf("%d frames counted dropped, want the 3 still in the lag", n)
	}
	l.moveLags()
	if c.lag != nil || l.lagConns.Load() != 0 || len(l.lagging) != 0 {
		t.Fatalf("the loop still holds the closed conn's lag")
	}
	// Nothing more reaches gnet for the closed conn: after its close
	// gnet's Write would write to the descriptor's number, which a new
	// connection may hold by then.
	c.write([]byte("late"))
	c.writev([][]byte{[]byte("late"), []byte("again")})
	if rc.writes != 1 {
		t.Fatalf("%d writes to gnet after the close", rc.writes-1)
	}
}

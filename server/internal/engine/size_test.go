package engine

import (
	"testing"
	"unsafe"

	"github.com/wspush/wspush/frame"
	"github.com/wspush/wspush/pool"
)

// Every idle connection holds one conn, and in protocol mode one session:
// at a million connections each byte of either is a megabyte, and each
// struct is rounded up to its malloc size class, so a field added to a
// full one costs a whole step (16 bytes here). These tests hold both at
// the top of their size class (docs/benchmarks.md, "Idle memory: where
// the bytes went"); a change that fails one should be weighed, and the
// budget changed here and in the docs together, not worked around.
//
// conn, 96 bytes (class 96):
//
//	gc gnet.Conn 16, l 8, prev/next (timing wheel) 16, sess 8,
//	r frame.Reader 16, skip 8, at/seen 8,
//	state/queued/reason/backlog/zout 5 + 3 padding, lag 8;
//	the socket's descriptor is gnet's (conn.fd), not a copy here.
//
// session, at most 112 bytes (class 112):
//
//	m pool.Member 88, perms 8, exp 4, rate 8, resuming 1 (+3 padding);
//	the rare resume state lives in a loop map, not here.
func TestConnFitsItsSizeClass(t *testing.T) {
	if got := unsafe.Sizeof(conn{}); got > 96 {
		t.Errorf("conn is %d bytes, over its budget of 96 (the 96-byte size class): every idle connection pays the next class", got)
	}
	if got := unsafe.Sizeof(frame.Reader{}); got > 16 {
		t.Errorf("frame.Reader is %d bytes, over the 16 that conn's budget has for it", got)
	}
}

func TestSessionFitsItsSizeClass(t *testing.T) {
	if got := unsafe.Sizeof(session{}); got > 112 {
		t.Errorf("session is %d bytes, over its budget of 112 (the 112-byte size class): every protocol-mode connection pays the next class", got)
	}
	if got := unsafe.Sizeof(pool.Member{}); got > 88 {
		t.Errorf("pool.Member is %d bytes, over the 88 that session's budget has for it", got)
	}
}

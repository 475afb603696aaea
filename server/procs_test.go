package server

import (
	"runtime"
	"testing"
)

// The event loops keep their Ps while they write, so Serve leaves one P
// over for everything else, unless GOMAXPROCS is set in the environment.
func TestReserveProcsLeavesAPBesideTheLoops(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(2)
	noEnv := func(string) string { return "" }
	if n := ReserveProcs(2, noEnv); n != 3 || runtime.GOMAXPROCS(0) != 3 {
		t.Fatalf("2 loops on 2 Ps: GOMAXPROCS %d (returned %d), want 3", runtime.GOMAXPROCS(0), n)
	}
	runtime.GOMAXPROCS(8)
	if n := ReserveProcs(2, noEnv); n != 8 {
		t.Fatalf("2 loops on 8 Ps: GOMAXPROCS became %d, want 8 kept", n)
	}
	runtime.GOMAXPROCS(2)
	env := func(k string) string {
		if k == "GOMAXPROCS" {
			return "2"
		}
		return ""
	}
	if n := ReserveProcs(2, env); n != 2 {
		t.Fatalf("GOMAXPROCS=2 in the environment became %d", n)
	}
}

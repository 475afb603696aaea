package engine

import (
	"testing"

	"github.com/wspush/wspush/server/internal/history"
)

// A client that asks for resume=1 and never resumes gets live messages
// again once the hold runs out.
func TestHoldWithoutResumeEndsAfterMaxHold(t *testing.T) {
	rs, s := newHold(100), &Engine{}
	if !rs.skipUser(history.MakePos(1, 0), 100, s) || !rs.skipUser(history.MakePos(1, 0), 100+ticks(maxHold)-1, s) {
		t.Fatal("not held during the hold")
	}
	if rs.skipUser(history.MakePos(1, 0), 100+ticks(maxHold), s) {
		t.Fatal("held past maxHold")
	}
	if s.held.Load() != 2 {
		t.Fatalf("held counted %d, want 2", s.held.Load())
	}
}

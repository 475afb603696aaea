package redistest

import (
	"testing"
	"time"
)

// The recipe of docs/deploy/redis/sentinel runs and fails over: the
// harness the Sentinel tests stand on.
func TestFaultsReplicatedFailsOver(t *testing.T) {
	if testing.Short() {
		t.Skip("a Sentinel failover takes seconds")
	}
	s := StartReplicated(t, "../../../docs/deploy/redis/sentinel", 1, 3)
	old := s.PrimaryAddr()
	if old != s.Primary.Addr() {
		t.Fatalf("the Sentinels name %q, want %s", old, s.Primary.Addr())
	}
	s.Primary.Kill()
	start := time.Now()
	now := s.WaitFailover(old, 30*time.Second)
	if now != s.Replicas[0].Addr() {
		t.Fatalf("promoted %s, want the replica %s", now, s.Replicas[0].Addr())
	}
	t.Logf("the Sentinels promoted %s %v after the primary's SIGKILL", now, time.Since(start).Round(10*time.Millisecond))
}

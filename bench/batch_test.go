package bench

import (
	"runtime"
	"testing"
)

func TestPickUsersNamesDistinctUsers(t *testing.T) {
	for _, n := range []int{1, 7, 100} {
		users := pickUsers(100, n)
		if len(users) != n {
			t.Fatalf("pickUsers(100, %d) gave %d users", n, len(users))
		}
		seen := map[string]bool{}
		for _, u := range users {
			if seen[u] {
				t.Fatalf("pickUsers(100, %d) named %s twice: %v", n, u, users)
			}
			seen[u] = true
		}
	}
}

func TestBatchIsCappedByConns(t *testing.T) {
	c := Config{Mode: ModePush, Conns: 10, Batch: 50}.withDefaults()
	if c.Batch != 10 {
		t.Fatalf("batch %d, want 10", c.Batch)
	}
	c = Config{Mode: ModePush, Conns: 10}.withDefaults()
	if c.Batch != 1 {
		t.Fatalf("batch %d, want 1", c.Batch)
	}
}

// The workers' default loops add up to the CPUs, not to CPUs × workers,
// and each worker has at least one; an explicit --loops is kept.
func TestDefaultLoopsShareTheCPUsAmongWorkers(t *testing.T) {
	cpus := runtime.NumCPU()
	for _, workers := range []int{1, 2, 3, cpus, 4 * cpus} {
		c := Config{Mode: ModeBroadcast, Conns: 1000, Workers: workers}.withDefaults()
		if c.Loops < 1 || (c.Loops > 1 && c.Loops*workers > cpus) {
			t.Errorf("%d workers on %d CPUs: %d loops each", workers, cpus, c.Loops)
		}
		if workers == 1 && c.Loops != cpus {
			t.Errorf("one worker: %d loops, want one per CPU (%d)", c.Loops, cpus)
		}
	}
	if c := (Config{Mode: ModeBroadcast, Conns: 1000, Workers: 2, Loops: 3}).withDefaults(); c.Loops != 3 {
		t.Errorf("--loops 3 became %d", c.Loops)
	}
}

package bench

import "testing"

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

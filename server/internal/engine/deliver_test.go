package engine

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/wire"
)

// membersOf hands a user's look-up to its shard without a copy when the
// user's connections are on one shard, and copies otherwise: either way
// every connection gets the push once, and online and offline keep the
// order of the call.
func TestDeliverUsersSplitsOnlineAndOfflineInOrder(t *testing.T) {
	s := startEngine(t, Config{Loops: 2}, nil)
	// alice has 3 connections, so on 2 loops at least two share one and,
	// the loops taking turns, usually one is on the other; bob has one.
	conns := map[string][]*client{}
	for _, u := range []string{"alice", "alice", "alice", "bob"} {
		c, _ := dialAs(t, s, "?user="+u, "")
		conns[u] = append(conns[u], c)
	}
	waitFor(t, 5*time.Second, func() error {
		if n := s.UserConns("alice") + s.UserConns("bob"); n != 4 {
			return fmt.Errorf("%d connections in the pool, want 4", n)
		}
		return nil
	})
	for _, c := range []struct {
		users            []string
		online, offline  string
		delivered, bobby int
	}{
		{[]string{"alice", "bob"}, "[alice bob]", "[]", 4, 1},
		{[]string{"carol", "alice", "dave", "bob"}, "[alice bob]", "[carol dave]", 4, 1},
		{[]string{"bob", "carol"}, "[bob]", "[carol]", 1, 1},
		{[]string{"carol"}, "[]", "[carol]", 0, 0},
		{[]string{"alice"}, "[alice]", "[]", 3, 0},
	} {
		d, err := push(s, c.users, []byte(`"hi"`))
		if err != nil || fmt.Sprint(d.Online) != c.online || fmt.Sprint(d.Offline) != c.offline || d.Delivered != c.delivered ||
			d.Online == nil || d.Offline == nil {
			t.Fatalf("push to %v: %+v %v, want %d delivered, online %s, offline %s", c.users, d, err, c.delivered, c.online, c.offline)
		}
		for u, cs := range conns {
			if !contains(c.users, u) {
				continue
			}
			for _, cl := range cs {
				cl.ExpectPushData(`"hi"`, "")
			}
		}
	}
	// Nothing more came: each connection got each of its pushes once.
	if _, err := push(s, []string{"alice", "bob"}, []byte(`"last"`)); err != nil {
		t.Fatal(err)
	}
	for _, cs := range conns {
		for _, cl := range cs {
			cl.ExpectPushData(`"last"`, "")
		}
	}
}

func contains(us []string, u string) bool {
	for _, v := range us {
		if v == u {
			return true
		}
	}
	return false
}

// One push to one user with one connection allocates a fixed, small
// number of objects on the way to the loop and back, whatever goroutine
// does it: the look-up, the shard table, the wait and gnet's task.
func TestDeliverUsersAllocations(t *testing.T) {
	s := startEngine(t, Config{Loops: 2}, nil)
	c, _ := dialAs(t, s, "?user=alice", "")
	// The reader allocates nothing per push.
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.Discard, c.BR)
	}()
	t.Cleanup(func() {
		_ = c.NC.Close()
		<-done
	})
	f := wire.PushFrame(1, "", []byte(`"hi"`), "", "", 0, 1)
	users := []string{"alice"}
	n := testing.AllocsPerRun(500, func() {
		if d, err := s.DeliverUsers(context.Background(), users, f, 0, nil); err != nil || d.Delivered != 1 {
			t.Fatalf("push: %+v %v", d, err)
		}
	})
	// membersOf: the look-up and byShard; gnet's Execute: its task and
	// its queue node. Measured 4.
	t.Logf("%.1f allocations per push", n)
	if n > 4 {
		t.Fatalf("a push to one user allocates %.1f objects, want at most 4", n)
	}
}

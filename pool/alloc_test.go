package pool_test

import (
	"strconv"
	"testing"

	"github.com/wspush/wspush/pool"
)

// allocRuns is the number of runs each allocation test averages over: a
// map's growth is amortised over many inserts, so a few runs would see it
// as a whole allocation per run.
const allocRuns = 1000

// roomOf makes a pool of one shard with n members, all in room "chat",
// plus one member in "other" that the walks of "chat" must skip.
func roomOf(t testing.TB, n int) *pool.Pool {
	t.Helper()
	p := pool.New(pool.Config{})
	for i := range n {
		m := member("u" + strconv.Itoa(i))
		p.Add(m, 0)
		mustJoin(t, p, m, "chat")
	}
	m := member("outsider")
	p.Add(m, 0)
	mustJoin(t, p, m, "other")
	return p
}

// A connection of a user not yet in the pool costs its Member, which the
// caller allocates, and one entry in the user directory, a table of
// pointers (usertable.go) whose slot a delete frees again, so Add and
// Remove allocate only when a shard's table grows: far below one per run,
// so the pool's own bound is 0, and with the Member counted, 1.
func TestAddRemoveOfNewUserAllocatesOnlyWhatTheMapsNeed(t *testing.T) {
	for _, bg := range []int{0, 1000} {
		p := pool.New(pool.Config{Shards: 2})
		for i := range bg {
			p.Add(member("bg"+strconv.Itoa(i)), i%2)
		}
		// AllocsPerRun runs f once more to warm up.
		ms := make([]pool.Member, allocRuns+1)
		for i := range ms {
			ms[i] = pool.Member{Conn: nopConn{}, User: "fresh" + strconv.Itoa(i)}
		}
		i := 0
		got := testing.AllocsPerRun(allocRuns, func() {
			p.Add(&ms[i], i%2)
			p.Remove(&ms[i])
			i++
		})
		if got != 0 {
			t.Errorf("%d members: Add+Remove of a fresh user: %v allocs, want 0", bg, got)
		}

		// As a server does it, allocating the Member per connection.
		i = 0
		got = testing.AllocsPerRun(allocRuns, func() {
			m := &pool.Member{Conn: nopConn{}, User: ms[i].User}
			p.Add(m, i%2)
			p.Remove(m)
			i++
		})
		if got != 1 {
			t.Errorf("%d members: new Member, Add, Remove: %v allocs, want 1 (the Member)", bg, got)
		}
		checkCounts(t, p, bg, bg, 0)
	}
}

// A second connection of a user already present only links into the
// user's list and adds an id.
func TestAddRemoveOfSecondConnAllocatesNothing(t *testing.T) {
	p := pool.New(pool.Config{})
	p.Add(member("alice"), 0)
	m := member("alice")
	got := testing.AllocsPerRun(allocRuns, func() {
		p.Add(m, 0)
		p.Remove(m)
	})
	if got != 0 {
		t.Errorf("Add+Remove of a second conn: %v allocs, want 0", got)
	}
}

func TestShardEachAllocatesNothing(t *testing.T) {
	p := roomOf(t, 1000)
	s := p.Shard(0)
	n := 0
	got := testing.AllocsPerRun(100, func() {
		s.Each(func(m *pool.Member) { n++ })
	})
	if got != 0 {
		t.Errorf("Each over 1001 members: %v allocs, want 0", got)
	}
	if n != 101*1001 {
		t.Errorf("Each visited %d members in 101 runs, want %d", n, 101*1001)
	}
}

func TestShardEachInRoomAllocatesNothing(t *testing.T) {
	p := roomOf(t, 1000)
	s := p.Shard(0)
	frame := []byte{0x81, 0x02, 'h', 'i'}
	n := 0
	got := testing.AllocsPerRun(100, func() {
		s.EachInRoom("chat", func(m *pool.Member) {
			m.Conn.Send(frame)
			n++
		})
	})
	if got != 0 {
		t.Errorf("EachInRoom over 1000 members: %v allocs, want 0", got)
	}
	if n != 101*1000 {
		t.Errorf("EachInRoom visited %d members in 101 runs, want %d", n, 101*1000)
	}
}

func TestRoomLookupAllocatesNothing(t *testing.T) {
	p := roomOf(t, 10)
	name := "chat"
	var r *pool.Room
	got := testing.AllocsPerRun(allocRuns, func() {
		r = p.Room(name)
	})
	if got != 0 {
		t.Errorf("Room: %v allocs, want 0", got)
	}
	if r == nil || r.Len() != 10 {
		t.Errorf("Room(chat) = %v, want 10 members", r)
	}
	if got := testing.AllocsPerRun(allocRuns, func() { r = p.Room("none") }); got != 0 {
		t.Errorf("Room of a missing room: %v allocs, want 0", got)
	}
}

func TestUserConnsAllocatesNothing(t *testing.T) {
	p := pool.New(pool.Config{Shards: 2})
	p.Add(member("alice"), 0)
	p.Add(member("alice"), 1)
	n := 0
	got := testing.AllocsPerRun(allocRuns, func() {
		n = p.UserConns("alice")
	})
	if got != 0 {
		t.Errorf("UserConns: %v allocs, want 0", got)
	}
	if n != 2 {
		t.Errorf("UserConns(alice) = %d, want 2", n)
	}
}

// User appends to the caller's slice: with room for the result it
// allocates nothing.
func TestUserIntoBufferAllocatesNothing(t *testing.T) {
	p := pool.New(pool.Config{Shards: 2})
	p.Add(member("alice"), 0)
	p.Add(member("alice"), 1)
	buf := make([]*pool.Member, 0, 4)
	got := testing.AllocsPerRun(allocRuns, func() {
		buf = p.User("alice", buf[:0])
	})
	if got != 0 {
		t.Errorf("User into a buffer: %v allocs, want 0", got)
	}
	if len(buf) != 2 {
		t.Errorf("User(alice) = %d members, want 2", len(buf))
	}
}

// Joining a room that has members on the shard allocates the membership
// link only; the room's entries exist already.
func TestJoinLeaveOfPopulatedRoomAllocatesOnlyTheMembership(t *testing.T) {
	p := roomOf(t, 10)
	m := member("alice")
	p.Add(m, 0)
	got := testing.AllocsPerRun(allocRuns, func() {
		p.Join(m, "chat")
		p.Leave(m, "chat")
	})
	if got != 1 {
		t.Errorf("Join+Leave: %v allocs, want 1 (the membership)", got)
	}
}

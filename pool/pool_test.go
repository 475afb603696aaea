package pool_test

import (
	"slices"
	"testing"

	"github.com/wspush/wspush/pool"
)

// nopConn is a Conn that accepts and drops every frame. A zero-size value
// in an interface does not allocate, so it costs members nothing.
type nopConn struct{}

func (nopConn) Send([]byte) error { return nil }

func member(user string) *pool.Member {
	return &pool.Member{Conn: nopConn{}, User: user}
}

// mustJoin joins m to room and fails the test unless that was a new
// membership.
func mustJoin(t testing.TB, p *pool.Pool, m *pool.Member, room string) {
	t.Helper()
	ok, err := p.Join(m, room)
	if err != nil || !ok {
		t.Fatalf("Join(%d, %q) = %v, %v; want true, nil", m.ID(), room, ok, err)
	}
}

// checkCounts compares the pool's three counters with the wanted ones.
func checkCounts(t *testing.T, p *pool.Pool, conns, users, rooms int) {
	t.Helper()
	if got := p.Conns(); got != conns {
		t.Errorf("Conns() = %d, want %d", got, conns)
	}
	if got := p.Users(); got != users {
		t.Errorf("Users() = %d, want %d", got, users)
	}
	if got := p.RoomCount(); got != rooms {
		t.Errorf("RoomCount() = %d, want %d", got, rooms)
	}
}

func ids(ms []*pool.Member) []uint64 {
	out := make([]uint64, len(ms))
	for i, m := range ms {
		out[i] = m.ID()
	}
	slices.Sort(out)
	return out
}

func TestNewZeroConfigHasOneShard(t *testing.T) {
	p := pool.New(pool.Config{})
	if got := p.Shards(); got != 1 {
		t.Errorf("Shards() = %d, want 1", got)
	}
	checkCounts(t, p, 0, 0, 0)
}

func TestAddAssignsUniqueNonZeroIDs(t *testing.T) {
	p := pool.New(pool.Config{Shards: 3})
	seen := make(map[uint64]bool)
	for i := range 300 {
		m := member("u")
		id := p.Add(m, i%3)
		if id == 0 {
			t.Fatalf("Add returned id 0")
		}
		if id != m.ID() {
			t.Fatalf("Add returned %d, but m.ID() = %d", id, m.ID())
		}
		if seen[id] {
			t.Fatalf("Add returned id %d twice", id)
		}
		seen[id] = true
		if m.Shard() != i%3 {
			t.Fatalf("m.Shard() = %d, want %d", m.Shard(), i%3)
		}
		if !m.Live() {
			t.Fatalf("member %d not Live after Add", id)
		}
	}
	checkCounts(t, p, 300, 1, 0)
}

func TestUserWithTwoMembersOnDifferentShards(t *testing.T) {
	p := pool.New(pool.Config{Shards: 2})
	phone, pc := member("alice"), member("alice")
	p.Add(phone, 0)
	p.Add(pc, 1)

	got := p.User("alice", nil)
	if want := ids([]*pool.Member{phone, pc}); !slices.Equal(ids(got), want) {
		t.Errorf("User(alice) = ids %v, want %v", ids(got), want)
	}
	if n := p.UserConns("alice"); n != 2 {
		t.Errorf("UserConns(alice) = %d, want 2", n)
	}
	checkCounts(t, p, 2, 1, 0)
}

func TestUserAppendsToDst(t *testing.T) {
	p := pool.New(pool.Config{})
	m, other := member("alice"), member("bob")
	p.Add(m, 0)
	p.Add(other, 0)
	dst := p.User("alice", []*pool.Member{other})
	if len(dst) != 2 || dst[0] != other || dst[1] != m {
		t.Errorf("User(alice, [bob]) = %v, want [bob alice]", dst)
	}
	if got := p.User("nobody", nil); got != nil {
		t.Errorf("User(nobody, nil) = %v, want nil", got)
	}
	if n := p.UserConns("nobody"); n != 0 {
		t.Errorf("UserConns(nobody) = %d, want 0", n)
	}
}

// The user's list is pushed at its head, so the member added last is the
// head: removing it moves the head, removing an earlier one unlinks it
// from the middle or the tail.
func TestRemoveOneOfTheUsersMembersKeepsTheOthers(t *testing.T) {
	tests := []struct {
		name   string
		n      int // members of the user, added in order, on shard i%2
		remove int // index, in order of Add, of the one to remove
	}{
		{name: "head of two", n: 2, remove: 1},
		{name: "tail of two", n: 2, remove: 0},
		{name: "head of three", n: 3, remove: 2},
		{name: "middle of three", n: 3, remove: 1},
		{name: "tail of three", n: 3, remove: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pool.New(pool.Config{Shards: 2})
			var ms []*pool.Member
			for i := range tt.n {
				m := member("alice")
				p.Add(m, i%2)
				ms = append(ms, m)
			}
			p.Remove(ms[tt.remove])
			rest := slices.Delete(slices.Clone(ms), tt.remove, tt.remove+1)

			if got, want := ids(p.User("alice", nil)), ids(rest); !slices.Equal(got, want) {
				t.Errorf("User(alice) = ids %v, want %v", got, want)
			}
			if got := p.UserConns("alice"); got != tt.n-1 {
				t.Errorf("UserConns(alice) = %d, want %d", got, tt.n-1)
			}
			checkCounts(t, p, tt.n-1, 1, 0)

			// Removing the rest, in order, deletes the user.
			for _, m := range rest {
				p.Remove(m)
			}
			if got := p.User("alice", nil); len(got) != 0 {
				t.Errorf("User(alice) after removing all = %v, want none", got)
			}
			if got := p.UserConns("alice"); got != 0 {
				t.Errorf("UserConns(alice) after removing all = %d, want 0", got)
			}
			checkCounts(t, p, 0, 0, 0)
		})
	}
}

func TestRemoveBothMembersDeletesTheUser(t *testing.T) {
	for _, order := range [][2]int{{0, 1}, {1, 0}} {
		p := pool.New(pool.Config{Shards: 2})
		ms := []*pool.Member{member("alice"), member("alice")}
		p.Add(ms[0], 0)
		p.Add(ms[1], 1)
		p.Remove(ms[order[0]])
		checkCounts(t, p, 1, 1, 0)
		p.Remove(ms[order[1]])
		checkCounts(t, p, 0, 0, 0)
		if n := p.UserConns("alice"); n != 0 {
			t.Errorf("order %v: UserConns(alice) = %d, want 0", order, n)
		}
		// A new member of the same user starts a fresh list.
		m := member("alice")
		p.Add(m, 0)
		if got := p.User("alice", nil); len(got) != 1 || got[0] != m {
			t.Errorf("order %v: User(alice) after re-adding = %v, want [%p]", order, got, m)
		}
	}
}

func TestRemoveTwiceIsHarmless(t *testing.T) {
	p := pool.New(pool.Config{})
	a, b := member("alice"), member("alice")
	p.Add(a, 0)
	p.Add(b, 0)
	mustJoin(t, p, a, "chat")
	mustJoin(t, p, b, "chat")
	p.Remove(a)
	p.Remove(a)
	checkCounts(t, p, 1, 1, 1)
	if n := p.UserConns("alice"); n != 1 {
		t.Errorf("UserConns(alice) = %d, want 1", n)
	}
	if n := p.Room("chat").Len(); n != 1 {
		t.Errorf("Room(chat).Len() = %d, want 1", n)
	}
	if n := p.Shard(0).Len(); n != 1 {
		t.Errorf("Shard(0).Len() = %d, want 1", n)
	}
}

func TestRemoveOfNeverAddedMemberIsHarmless(t *testing.T) {
	p := pool.New(pool.Config{})
	p.Remove(member("alice"))
	checkCounts(t, p, 0, 0, 0)
}

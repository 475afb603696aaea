package pool_test

import (
	"slices"
	"testing"

	"github.com/wspush/wspush/pool"
)

// visit collects the ids of the members that each(f) calls f with.
func visit(each func(func(*pool.Member))) []uint64 {
	var got []uint64
	each(func(m *pool.Member) { got = append(got, m.ID()) })
	slices.Sort(got)
	return got
}

// fixture is a pool of two shards where members of even index are on
// shard 0 and those of odd index on shard 1; every third member is in
// room "chat", and member 0 is also in "other".
func fixture(t *testing.T, n int) (*pool.Pool, []*pool.Member) {
	t.Helper()
	p := pool.New(pool.Config{Shards: 2})
	ms := make([]*pool.Member, n)
	for i := range ms {
		ms[i] = member("u")
		p.Add(ms[i], i%2)
		if i%3 == 0 {
			mustJoin(t, p, ms[i], "chat")
		}
	}
	mustJoin(t, p, ms[0], "other")
	return p, ms
}

// want lists the sorted ids of the members of ms for which keep is true.
func want(ms []*pool.Member, keep func(i int) bool) []uint64 {
	var out []uint64
	for i, m := range ms {
		if keep(i) {
			out = append(out, m.ID())
		}
	}
	slices.Sort(out)
	return out
}

func TestShardEachVisitsExactlyItsMembers(t *testing.T) {
	p, ms := fixture(t, 10)
	for shard := range 2 {
		got := visit(p.Shard(shard).Each)
		if w := want(ms, func(i int) bool { return i%2 == shard }); !slices.Equal(got, w) {
			t.Errorf("Shard(%d).Each visited %v, want %v", shard, got, w)
		}
		if n := p.Shard(shard).Len(); n != 5 {
			t.Errorf("Shard(%d).Len() = %d, want 5", shard, n)
		}
	}
}

func TestShardEachInRoomVisitsExactlyTheRoomsMembersOnTheShard(t *testing.T) {
	p, ms := fixture(t, 12)
	for shard := range 2 {
		s := p.Shard(shard)
		got := visit(func(f func(*pool.Member)) { s.EachInRoom("chat", f) })
		w := want(ms, func(i int) bool { return i%2 == shard && i%3 == 0 })
		if !slices.Equal(got, w) {
			t.Errorf("Shard(%d).EachInRoom(chat) visited %v, want %v", shard, got, w)
		}
		if n := inRoom(s, "chat"); n != len(w) {
			t.Errorf("Shard(%d).InRoom(chat) = %d, want %d", shard, n, len(w))
		}
	}
	if got := visit(func(f func(*pool.Member)) { p.Shard(1).EachInRoom("other", f) }); len(got) != 0 {
		t.Errorf("EachInRoom(other) on the shard without its member visited %v", got)
	}
	if got := visit(func(f func(*pool.Member)) { p.Shard(0).EachInRoom("nowhere", f) }); len(got) != 0 {
		t.Errorf("EachInRoom(nowhere) visited %v", got)
	}
}

func TestShardEachOnEmptyShardVisitsNone(t *testing.T) {
	p := pool.New(pool.Config{Shards: 2})
	p.Add(member("u"), 1)
	if got := visit(p.Shard(0).Each); len(got) != 0 {
		t.Errorf("Each on empty shard visited %v", got)
	}
}

// A Send that fails closes the connection, so f removes the member it was
// given. Every member must still be visited exactly once, whether the
// removed one is first, in the middle or last of the list.
func TestShardEachToleratesRemoveOfVisitedMember(t *testing.T) {
	tests := []struct {
		name   string
		remove func(i int) bool // by index in order of Add
	}{
		{name: "all", remove: func(int) bool { return true }},
		{name: "none", remove: func(int) bool { return false }},
		{name: "every other", remove: func(i int) bool { return i%2 == 0 }},
		{name: "first added (tail)", remove: func(i int) bool { return i == 0 }},
		{name: "last added (head)", remove: func(i int) bool { return i == 7 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pool.New(pool.Config{})
			ms := make([]*pool.Member, 8)
			index := make(map[*pool.Member]int)
			for i := range ms {
				ms[i] = member("u")
				p.Add(ms[i], 0)
				mustJoin(t, p, ms[i], "chat")
				index[ms[i]] = i
			}
			got := visit(func(f func(*pool.Member)) {
				p.Shard(0).Each(func(m *pool.Member) {
					f(m)
					if tt.remove(index[m]) {
						p.Remove(m)
					}
				})
			})
			if w := want(ms, func(int) bool { return true }); !slices.Equal(got, w) {
				t.Errorf("Each visited %v, want %v", got, w)
			}
			kept := want(ms, func(i int) bool { return !tt.remove(i) })
			if got := visit(p.Shard(0).Each); !slices.Equal(got, kept) {
				t.Errorf("Each after removals visited %v, want %v", got, kept)
			}
			if got := visit(func(f func(*pool.Member)) { p.Shard(0).EachInRoom("chat", f) }); !slices.Equal(got, kept) {
				t.Errorf("EachInRoom after removals visited %v, want %v", got, kept)
			}
			if n := p.Conns(); n != len(kept) {
				t.Errorf("Conns() = %d, want %d", n, len(kept))
			}
		})
	}
}

func TestShardEachInRoomToleratesRemoveOfVisitedMember(t *testing.T) {
	tests := []struct {
		name   string
		remove func(i int) bool
		// leave, when true, makes f Leave the room instead of Remove.
		leave bool
	}{
		{name: "remove all", remove: func(int) bool { return true }},
		{name: "remove every other", remove: func(i int) bool { return i%2 == 1 }},
		{name: "remove first added (tail)", remove: func(i int) bool { return i == 0 }},
		{name: "remove last added (head)", remove: func(i int) bool { return i == 7 }},
		{name: "leave all", remove: func(int) bool { return true }, leave: true},
		{name: "leave every other", remove: func(i int) bool { return i%2 == 0 }, leave: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pool.New(pool.Config{})
			ms := make([]*pool.Member, 8)
			index := make(map[*pool.Member]int)
			for i := range ms {
				ms[i] = member("u")
				p.Add(ms[i], 0)
				// A second room before and after, so that Remove unlinks
				// memberships on both sides of "chat" in the member's list.
				mustJoin(t, p, ms[i], "before")
				mustJoin(t, p, ms[i], "chat")
				mustJoin(t, p, ms[i], "after")
				index[ms[i]] = i
			}
			s := p.Shard(0)
			got := visit(func(f func(*pool.Member)) {
				s.EachInRoom("chat", func(m *pool.Member) {
					f(m)
					if !tt.remove(index[m]) {
						return
					}
					if tt.leave {
						p.Leave(m, "chat")
					} else {
						p.Remove(m)
					}
				})
			})
			if w := want(ms, func(int) bool { return true }); !slices.Equal(got, w) {
				t.Errorf("EachInRoom visited %v, want %v", got, w)
			}
			kept := want(ms, func(i int) bool { return !tt.remove(i) })
			if got := visit(func(f func(*pool.Member)) { s.EachInRoom("chat", f) }); !slices.Equal(got, kept) {
				t.Errorf("EachInRoom after removals visited %v, want %v", got, kept)
			}
			if n := inRoom(s, "chat"); n != len(kept) {
				t.Errorf("InRoom(chat) = %d, want %d", n, len(kept))
			}
			wantRoom := len(kept)
			if r := p.Room("chat"); wantRoom == 0 && r != nil || wantRoom > 0 && (r == nil || r.Len() != wantRoom) {
				t.Errorf("Room(chat) = %v, want %d members", r, wantRoom)
			}
			// The other rooms lose only removed members, not those that left.
			others := len(ms)
			if !tt.leave {
				others = len(kept)
			}
			for _, name := range []string{"before", "after"} {
				if n := inRoom(s, name); n != others {
					t.Errorf("InRoom(%s) = %d, want %d", name, n, others)
				}
			}
		})
	}
}

// inRoom counts the shard's members in room by walking them.
func inRoom(s *pool.Shard, room string) int {
	n := 0
	s.EachInRoom(room, func(*pool.Member) { n++ })
	return n
}

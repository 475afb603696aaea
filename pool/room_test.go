package pool_test

import (
	"errors"
	"slices"
	"strconv"
	"testing"

	"github.com/wspush/wspush/pool"
)

// roomsOf lists the rooms m is in, sorted.
func roomsOf(p *pool.Pool, m *pool.Member) []string {
	var rs []string
	p.Rooms(m, func(r string) { rs = append(rs, r) })
	slices.Sort(rs)
	return rs
}

func TestJoinTwiceReportsFalse(t *testing.T) {
	p := pool.New(pool.Config{})
	m := member("alice")
	p.Add(m, 0)
	mustJoin(t, p, m, "chat")
	ok, err := p.Join(m, "chat")
	if ok || err != nil {
		t.Errorf("second Join = %v, %v; want false, nil", ok, err)
	}
	if n := p.Room("chat").Len(); n != 1 {
		t.Errorf("Room(chat).Len() = %d, want 1", n)
	}
	if n := inRoom(p.Shard(0), "chat"); n != 1 {
		t.Errorf("InRoom(chat) = %d, want 1", n)
	}
}

func TestLeaveOfRoomNotJoinedReportsFalse(t *testing.T) {
	p := pool.New(pool.Config{})
	m, other := member("alice"), member("bob")
	p.Add(m, 0)
	p.Add(other, 0)
	mustJoin(t, p, m, "a")
	mustJoin(t, p, other, "b")

	if p.Leave(m, "b") {
		t.Errorf("Leave(m, b) = true; m never joined b")
	}
	if p.Leave(m, "nowhere") {
		t.Errorf("Leave(m, nowhere) = true")
	}
	if !p.Leave(m, "a") {
		t.Errorf("Leave(m, a) = false")
	}
	if p.Leave(m, "a") {
		t.Errorf("second Leave(m, a) = true")
	}
	if n := p.Room("b").Len(); n != 1 {
		t.Errorf("Room(b).Len() = %d after m's failed Leave, want 1", n)
	}
	checkCounts(t, p, 2, 2, 1)
}

func TestRoomCountsPerShard(t *testing.T) {
	p := pool.New(pool.Config{Shards: 3})
	// Shard 0: two members, shard 1: none, shard 2: one.
	var ms []*pool.Member
	for _, shard := range []int{0, 0, 2} {
		m := member("u")
		p.Add(m, shard)
		mustJoin(t, p, m, "chat")
		ms = append(ms, m)
	}
	bystander := member("v")
	p.Add(bystander, 1)

	r := p.Room("chat")
	if r == nil {
		t.Fatal(`Room("chat") = nil`)
	}
	if r.Name() != "chat" {
		t.Errorf("Name() = %q", r.Name())
	}
	for i, want := range []int{2, 0, 1} {
		if got := r.On(i); got != want {
			t.Errorf("On(%d) = %d, want %d", i, got, want)
		}
		if got := inRoom(p.Shard(i), "chat"); got != want {
			t.Errorf("Shard(%d).InRoom = %d, want %d", i, got, want)
		}
	}
	if r.Len() != 3 {
		t.Errorf("Len() = %d, want 3", r.Len())
	}

	p.Leave(ms[0], "chat")
	if r.On(0) != 1 || r.Len() != 2 {
		t.Errorf("after one leaves shard 0: On(0) = %d, Len() = %d; want 1, 2", r.On(0), r.Len())
	}
}

func TestRoomIsNilAfterLastMemberLeaves(t *testing.T) {
	p := pool.New(pool.Config{Shards: 2})
	a, b := member("alice"), member("bob")
	p.Add(a, 0)
	p.Add(b, 1)
	if r := p.Room("chat"); r != nil {
		t.Fatalf("Room(chat) before any Join = %v, want nil", r)
	}
	mustJoin(t, p, a, "chat")
	mustJoin(t, p, b, "chat")
	checkCounts(t, p, 2, 2, 1)

	p.Leave(a, "chat")
	if r := p.Room("chat"); r == nil || r.Len() != 1 {
		t.Fatalf("Room(chat) with one member left = %v", r)
	}
	p.Leave(b, "chat")
	if r := p.Room("chat"); r != nil {
		t.Errorf("Room(chat) after last Leave = %v, want nil", r)
	}
	if n := inRoom(p.Shard(0), "chat") + inRoom(p.Shard(1), "chat"); n != 0 {
		t.Errorf("InRoom(chat) summed over shards = %d, want 0", n)
	}
	checkCounts(t, p, 2, 2, 0)

	// Rejoining makes a fresh entry.
	mustJoin(t, p, b, "chat")
	if r := p.Room("chat"); r == nil || r.Len() != 1 || r.On(1) != 1 {
		t.Errorf("Room(chat) after rejoin = %v, want one member on shard 1", r)
	}
}

func TestRoomCountCountsDistinctRooms(t *testing.T) {
	p := pool.New(pool.Config{Shards: 2})
	a, b := member("alice"), member("bob")
	p.Add(a, 0)
	p.Add(b, 1)
	steps := []struct {
		join  bool
		m     *pool.Member
		room  string
		rooms int
	}{
		{join: true, m: a, room: "x", rooms: 1},
		{join: true, m: b, room: "x", rooms: 1},
		{join: true, m: a, room: "y", rooms: 2},
		{join: true, m: b, room: "z", rooms: 3},
		{join: false, m: a, room: "x", rooms: 3},
		{join: false, m: b, room: "x", rooms: 2},
		{join: false, m: a, room: "y", rooms: 1},
		{join: false, m: b, room: "z", rooms: 0},
	}
	for i, s := range steps {
		if s.join {
			mustJoin(t, p, s.m, s.room)
		} else if !p.Leave(s.m, s.room) {
			t.Fatalf("step %d: Leave(%q) = false", i, s.room)
		}
		if got := p.RoomCount(); got != s.rooms {
			t.Errorf("step %d: RoomCount() = %d, want %d", i, got, s.rooms)
		}
	}
}

func TestRemoveLeavesEveryRoom(t *testing.T) {
	p := pool.New(pool.Config{Shards: 2})
	m, other := member("alice"), member("bob")
	p.Add(m, 1)
	p.Add(other, 1)
	rooms := []string{"a", "b", "c"}
	for _, r := range rooms {
		mustJoin(t, p, m, r)
	}
	mustJoin(t, p, other, "b")
	if got := roomsOf(p, m); !slices.Equal(got, rooms) {
		t.Fatalf("Rooms(m) = %v, want %v", got, rooms)
	}

	p.Remove(m)
	for _, r := range []string{"a", "c"} {
		if got := p.Room(r); got != nil {
			t.Errorf("Room(%q) after its only member's Remove = %v, want nil", r, got)
		}
		if n := inRoom(p.Shard(1), r); n != 0 {
			t.Errorf("InRoom(%q) = %d, want 0", r, n)
		}
	}
	if r := p.Room("b"); r == nil || r.Len() != 1 || r.On(1) != 1 {
		t.Errorf("Room(b) = %v, want other alone on shard 1", r)
	}
	if got := roomsOf(p, m); len(got) != 0 {
		t.Errorf("Rooms(m) after Remove = %v, want none", got)
	}
	var visited []*pool.Member
	p.Shard(1).EachInRoom("b", func(x *pool.Member) { visited = append(visited, x) })
	if len(visited) != 1 || visited[0] != other {
		t.Errorf("EachInRoom(b) after Remove visited %v, want only other", visited)
	}
	checkCounts(t, p, 1, 1, 1)
}

func TestJoinBeyondMaxRoomsReturnsErrTooManyRooms(t *testing.T) {
	tests := []struct {
		name string
		max  int // Config.MaxRooms
		cap  int // rooms a member may be in
	}{
		{name: "explicit cap", max: 3, cap: 3},
		{name: "cap of one", max: 1, cap: 1},
		{name: "zero means default", max: 0, cap: pool.DefaultMaxRooms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pool.New(pool.Config{MaxRooms: tt.max})
			m := member("alice")
			p.Add(m, 0)
			for i := range tt.cap {
				mustJoin(t, p, m, "r"+strconv.Itoa(i))
			}
			ok, err := p.Join(m, "one too many")
			if ok || !errors.Is(err, pool.ErrTooManyRooms) {
				t.Errorf("Join past the cap = %v, %v; want false, ErrTooManyRooms", ok, err)
			}
			if p.Room("one too many") != nil {
				t.Errorf("the refused room exists")
			}
			// A room it is in already is still reported as such, not refused.
			if ok, err := p.Join(m, "r0"); ok || err != nil {
				t.Errorf("Join of a room already in, at the cap = %v, %v; want false, nil", ok, err)
			}
			// Leaving one makes room for another.
			p.Leave(m, "r0")
			mustJoin(t, p, m, "one too many")
			checkCounts(t, p, 1, 1, tt.cap)
		})
	}
}

func TestJoinOnRemovedMemberReturnsErrNotLive(t *testing.T) {
	p := pool.New(pool.Config{})
	removed, never := member("alice"), member("bob")
	p.Add(removed, 0)
	p.Remove(removed)
	for name, m := range map[string]*pool.Member{"removed": removed, "never added": never} {
		ok, err := p.Join(m, "chat")
		if ok || !errors.Is(err, pool.ErrNotLive) {
			t.Errorf("%s: Join = %v, %v; want false, ErrNotLive", name, ok, err)
		}
		if p.Leave(m, "chat") {
			t.Errorf("%s: Leave = true", name)
		}
	}
	if p.Room("chat") != nil {
		t.Errorf("Room(chat) exists after refused Joins")
	}
	checkCounts(t, p, 0, 0, 0)
}

package pool

import (
	"slices"
	"testing"
	"unsafe"
)

func TestKeptRoomsAreJoinedByNewMembersOfTheUser(t *testing.T) {
	p := New(Config{Shards: 2})
	if ok, err := p.Keep("alice", "news"); !ok || err != nil {
		t.Fatalf("Keep = %v, %v", ok, err)
	}
	if ok, _ := p.Keep("alice", "news"); ok {
		t.Fatal("keeping twice reported true")
	}
	a := &Member{User: "alice"}
	b := &Member{User: "bob"}
	p.Add(a, 1)
	p.Add(b, 0)
	if r := p.Room("news"); r == nil || r.Len() != 1 || r.On(1) != 1 {
		t.Fatalf("room news after alice's new connection: %+v", r)
	}
	var rooms []string
	p.Rooms(b, func(r string) { rooms = append(rooms, r) })
	if len(rooms) != 0 {
		t.Fatalf("bob joined %v", rooms)
	}
	// Reconnecting: the old member goes, a new one comes back in the room.
	p.Remove(a)
	if p.Room("news") != nil {
		t.Fatal("room outlived its last member")
	}
	a2 := &Member{User: "alice"}
	p.Add(a2, 0)
	if r := p.Room("news"); r == nil || r.On(0) != 1 {
		t.Fatalf("room news after reconnect: %+v", r)
	}
	if !p.Unkeep("alice", "news") || p.Unkeep("alice", "news") {
		t.Fatal("Unkeep should report true once")
	}
	a3 := &Member{User: "alice"}
	p.Add(a3, 1)
	if r := p.Room("news"); r.Len() != 1 {
		t.Fatalf("a member added after Unkeep joined: %d members", r.Len())
	}
	if p.Unkeep("alice", "news") {
		t.Fatal("alice is still kept in news")
	}
}

func TestKeepIsCappedAtMaxRooms(t *testing.T) {
	p := New(Config{MaxRooms: 2})
	for _, r := range []string{"a", "b"} {
		if _, err := p.Keep("u", r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Keep("u", "c"); err != ErrTooManyRooms {
		t.Fatalf("third kept room: %v", err)
	}
	m := &Member{User: "u"}
	p.Add(m, 0)
	var got []string
	p.Rooms(m, func(r string) { got = append(got, r) })
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("a new member of u joined %v", got)
	}
}

func TestDirectoryShardsFillACacheLine(t *testing.T) {
	for name, size := range map[string]uintptr{
		"userDir": unsafe.Sizeof(userDir{}), "roomDir": unsafe.Sizeof(roomDir{}),
	} {
		if size != 64 {
			t.Errorf("%s is %d bytes, want 64", name, size)
		}
	}
}

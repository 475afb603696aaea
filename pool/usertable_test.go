package pool

import (
	"hash/maphash"
	"math/rand/v2"
	"strconv"
	"testing"
	"unsafe"
)

// The user table against a map, through random sets and deletes of users
// that collide often (a small table, up to 300 users): after every step
// each user is found exactly when the map has it, as the head the map
// holds, so that backward-shift deletion never cuts a probe run short.
func TestUserTableMatchesAMap(t *testing.T) {
	seed := maphash.MakeSeed()
	rng := rand.New(rand.NewPCG(1, 2))
	var tab userTable
	want := map[string]*Member{}
	users := make([]string, 300)
	for i := range users {
		users[i] = "u" + strconv.Itoa(i)
	}
	hash := func(u string) uint64 { return maphash.String(seed, u) >> dirBits }
	for step := range 20000 {
		u := users[rng.IntN(len(users))]
		if rng.IntN(3) == 0 {
			tab.delete(seed, hash(u), u)
			delete(want, u)
		} else {
			m := &Member{User: u}
			tab.set(seed, hash(u), m)
			want[u] = m
		}
		if tab.n != len(want) {
			t.Fatalf("step %d: %d users in the table, the map has %d", step, tab.n, len(want))
		}
		if 8*tab.n > 7*len(tab.slots) {
			t.Fatalf("step %d: %d users in %d slots, over 7/8", step, tab.n, len(tab.slots))
		}
		for _, v := range users {
			if got := tab.get(hash(v), v); got != want[v] {
				t.Fatalf("step %d: get(%s) = %p, want %p", step, v, got, want[v])
			}
		}
	}
}

// Looking up or deleting a user in a table never filled finds nothing and
// does not allocate it.
func TestUserTableEmpty(t *testing.T) {
	var tab userTable
	seed := maphash.MakeSeed()
	if m := tab.get(7, "alice"); m != nil {
		t.Fatalf("get in an empty table: %v", m)
	}
	tab.delete(seed, 7, "alice")
	if tab.slots != nil || tab.n != 0 {
		t.Fatalf("an empty table after delete: %d slots, n %d", len(tab.slots), tab.n)
	}
}

// The directory shards are padded to a cache line each (pool.go), which
// the table's slice header and count must not push past.
func TestDirShardsFillACacheLine(t *testing.T) {
	if got := unsafe.Sizeof(userDir{}); got != 64 {
		t.Errorf("userDir is %d bytes, want 64: adjust its padding", got)
	}
	if got := unsafe.Sizeof(roomDir{}); got != 64 {
		t.Errorf("roomDir is %d bytes, want 64: adjust its padding", got)
	}
}

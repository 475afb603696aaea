package pool_test

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/wspush/wspush/pool"
)

// owner is the goroutine that owns one shard, as an event loop would: it
// alone adds, joins, leaves and removes the shard's members, and it keeps
// its own count of what it did to check the pool against.
type owner struct {
	p      *pool.Pool
	shard  int
	rng    *rand.Rand
	users  []string
	rooms  []string
	live   []*pool.Member
	inRoom map[string]int // the shard's members per room, as this owner counts them
}

func (o *owner) step(t *testing.T) {
	switch op := o.rng.IntN(10); {
	case op < 3 || len(o.live) == 0:
		m := member(o.users[o.rng.IntN(len(o.users))])
		o.p.Add(m, o.shard)
		o.live = append(o.live, m)
	case op < 6:
		m := o.live[o.rng.IntN(len(o.live))]
		room := o.rooms[o.rng.IntN(len(o.rooms))]
		ok, err := o.p.Join(m, room)
		if err != nil && err != pool.ErrTooManyRooms {
			t.Errorf("shard %d: Join: %v", o.shard, err)
		}
		if ok {
			o.inRoom[room]++
		}
	case op < 8:
		m := o.live[o.rng.IntN(len(o.live))]
		room := o.rooms[o.rng.IntN(len(o.rooms))]
		if o.p.Leave(m, room) {
			o.inRoom[room]--
		}
	default:
		o.remove(o.rng.IntN(len(o.live)))
	}
}

// remove removes o.live[i], walking the shard's room lists with
// EachInRoom as a fan-out would and removing m from inside the callback.
func (o *owner) remove(i int) {
	m := o.live[i]
	o.p.Rooms(m, func(room string) { o.inRoom[room]-- })
	o.p.Shard(o.shard).Each(func(x *pool.Member) {
		if x == m {
			o.p.Remove(x)
		}
	})
	o.live[i] = o.live[len(o.live)-1]
	o.live = o.live[:len(o.live)-1]
}

// check compares the shard and the room directory's count for this shard,
// which only this goroutine changes, with the owner's own counts.
func (o *owner) check(t *testing.T) {
	s := o.p.Shard(o.shard)
	if s.Len() != len(o.live) {
		t.Errorf("shard %d: Len() = %d, want %d", o.shard, s.Len(), len(o.live))
	}
	n := 0
	s.Each(func(*pool.Member) { n++ })
	if n != len(o.live) {
		t.Errorf("shard %d: Each visited %d, want %d", o.shard, n, len(o.live))
	}
	for _, room := range o.rooms {
		want := o.inRoom[room]
		visited := 0
		s.EachInRoom(room, func(*pool.Member) { visited++ })
		if visited != want {
			t.Errorf("shard %d: EachInRoom(%s) visited %d, want %d", o.shard, room, visited, want)
		}
		// Other shards may delete the room's entry and make it anew at any
		// time, but not while this shard has members in it, and whichever
		// entry Room returns, its count for this shard changes only here.
		r := o.p.Room(room)
		if want > 0 && r == nil || r != nil && r.On(o.shard) != want {
			t.Errorf("shard %d: Room(%s) = %v, want On(%d) = %d", o.shard, room, r, o.shard, want)
		}
	}
}

// A probe calls one of the methods that any goroutine may call, with an
// argument picked by i, and checks what it can without owning a shard:
// what User and Lookup return is consistent, counts are never negative.
// Each reader runs one probe only, so that it takes no lock but the one
// its method takes: the race detector then sees an unguarded access for
// the race it is, not ordered after the writer by some unrelated lock.
type probe func(t *testing.T, p *pool.Pool, i int)

func probes(users, rooms []string, maxID uint64) map[string]probe {
	return map[string]probe{
		"User": func(t *testing.T, p *pool.Pool, i int) {
			user := users[i%len(users)]
			for _, m := range p.User(user, nil) {
				// User and ID are set before Add publishes m under a lock.
				if m.User != user || m.ID() == 0 {
					t.Errorf("User(%s) returned member %d of user %q", user, m.ID(), m.User)
				}
			}
		},
		"UserConns": func(t *testing.T, p *pool.Pool, i int) {
			if n := p.UserConns(users[i%len(users)]); n < 0 {
				t.Errorf("UserConns(%s) = %d", users[i%len(users)], n)
			}
		},
		"Room": func(t *testing.T, p *pool.Pool, i int) {
			name := rooms[i%len(rooms)]
			r := p.Room(name)
			if r == nil {
				return
			}
			if r.Len() < 0 || r.Name() != name {
				t.Errorf("Room(%s): Len() = %d, Name() = %q", name, r.Len(), r.Name())
			}
			for s := range p.Shards() {
				if r.On(s) < 0 {
					t.Errorf("Room(%s).On(%d) = %d", name, s, r.On(s))
				}
			}
		},
		"counts": func(t *testing.T, p *pool.Pool, i int) {
			if p.Conns() < 0 || p.Users() < 0 || p.RoomCount() < 0 {
				t.Errorf("Conns, Users, RoomCount = %d, %d, %d", p.Conns(), p.Users(), p.RoomCount())
			}
		},
	}
}

func TestConcurrentOwnersAndReadersStayConsistent(t *testing.T) {
	const (
		shards = 4
		steps  = 3000 // per owner, so no id exceeds shards*steps
	)
	p := pool.New(pool.Config{Shards: shards, MaxRooms: 4})
	// Few users and rooms, so that users have members on several shards
	// and rooms are created and deleted again and again.
	users := []string{"u0", "u1", "u2", "u3", "u4", "u5", "u6"}
	rooms := []string{"r0", "r1", "r2", "r3", "r4", "r5"}

	// Readers run until the owners are done; the deferred stop also ends
	// them if the test fails early.
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	readersDone := sync.OnceFunc(func() { close(stop); rwg.Wait() })
	defer readersDone()
	for _, f := range probes(users, rooms, shards*steps) {
		rwg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				f(t, p, i)
				// Yield, so that on few cores the readers, which never
				// block, leave the owners time to finish.
				runtime.Gosched()
			}
		})
	}

	owners := make([]*owner, shards)
	for i := range owners {
		owners[i] = &owner{
			p: p, shard: i, rng: rand.New(rand.NewPCG(uint64(i), 1)),
			users: users, rooms: rooms, inRoom: make(map[string]int),
		}
	}

	// Phase 1: random work on every shard at once.
	var wg sync.WaitGroup
	for _, o := range owners {
		wg.Go(func() {
			for j := range steps {
				o.step(t)
				if j%100 == 0 {
					o.check(t)
				}
			}
			o.check(t)
		})
	}
	wg.Wait()

	// Quiescent: the owners are done, the readers still read. The totals
	// must add up. Owners' state is ours now that wg.Wait has returned.
	conns := 0
	perUser := make(map[string]int)
	perRoom := make(map[string]int)
	for _, o := range owners {
		conns += len(o.live)
		for _, m := range o.live {
			perUser[m.User]++
		}
		for room, n := range o.inRoom {
			perRoom[room] += n
		}
	}
	if conns == 0 {
		t.Fatalf("no members left after phase 1; the test exercises nothing")
	}
	nRooms := 0
	for _, room := range rooms {
		r := p.Room(room)
		if perRoom[room] == 0 {
			if r != nil {
				t.Errorf("Room(%s) = %v, want nil", room, r)
			}
			continue
		}
		nRooms++
		if r == nil || r.Len() != perRoom[room] {
			t.Errorf("Room(%s) = %v, want Len %d", room, r, perRoom[room])
		}
	}
	for _, user := range users {
		if got := p.UserConns(user); got != perUser[user] {
			t.Errorf("UserConns(%s) = %d, want %d", user, got, perUser[user])
		}
	}
	checkCounts(t, p, conns, len(perUser), nRooms)
	t.Logf("after phase 1: %d conns, %d users, %d rooms", conns, len(perUser), nRooms)

	// Phase 2: every owner removes all its members, at once.
	for _, o := range owners {
		wg.Go(func() {
			for len(o.live) > 0 {
				o.remove(len(o.live) - 1)
				if len(o.live)%10 == 0 {
					o.check(t)
				}
			}
		})
	}
	wg.Wait()
	readersDone()

	checkCounts(t, p, 0, 0, 0)
	for i := range shards {
		if n := p.Shard(i).Len(); n != 0 {
			t.Errorf("Shard(%d).Len() = %d, want 0", i, n)
		}
	}
	for _, user := range users {
		if got := p.User(user, nil); len(got) != 0 {
			t.Errorf("User(%s) = %d members, want none", user, len(got))
		}
	}
	for _, room := range rooms {
		if r := p.Room(room); r != nil {
			t.Errorf("Room(%s) = %v, want nil", room, r)
		}
	}
	if p.Conns() != 0 || p.Users() != 0 || p.RoomCount() != 0 {
		t.Fatalf("after all were removed: %d conns, %d users, %d rooms", p.Conns(), p.Users(), p.RoomCount())
	}
}

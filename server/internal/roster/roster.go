// Package roster keeps who is in which room on this node, by user, in
// name order: what GET /v1/rooms and GET /v1/rooms/{room} page through.
// The pool (package pool) knows a room's connections per shard, for
// fan-out, owned by the event loops; the roster knows its users, for
// reads from any goroutine, at the cost of one entry per user and room:
// 66 bytes with its share of the tree and its copy of a 10-byte user
// name (BenchmarkMemoryPerMembership, docs/benchmarks.md).
//
// Pages are read from B-trees, never by sorting a room: a page of a room
// of 100,000 users costs a descent and the page (docs/benchmarks.md). A
// page goes on after the last name of the one before it, so a user who
// stays in the room while it is paged through is listed exactly once.
//
//	r := roster.New()
//	r.Add("chat", "alice")   // a connection of alice joined chat
//	users, n, more := r.Members("chat", "", 100)
package roster

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/btree"
)

const parts = 64

// degree is the B-trees' degree: nodes of up to 2*degree-1 names.
const degree = 32

// Roster is a node's rooms and their users. Safe for any goroutine; Add
// and Remove, called on the event loops, take one short lock.
type Roster struct {
	seed  maphash.Seed
	parts [parts]part

	rmu   sync.Mutex
	rooms *btree.BTreeG[*room] // the rooms with a user, by name

	memberships atomic.Int64 // (room, user) pairs
}

type part struct {
	mu sync.Mutex
	m  map[string]*room
}

// room is one room's users. users is guarded by its part's lock; n is
// read without it.
type room struct {
	name  string
	users *btree.BTreeG[member]
	n     atomic.Int64
}

// member is a user in a room and its connections there.
type member struct {
	user  string
	conns int32
}

func lessMember(a, b member) bool { return a.user < b.user }
func lessRoom(a, b *room) bool    { return a.name < b.name }

// New returns an empty roster.
func New() *Roster {
	r := &Roster{seed: maphash.MakeSeed(), rooms: btree.NewG(degree, lessRoom)}
	for i := range r.parts {
		r.parts[i].m = map[string]*room{}
	}
	return r
}

func (r *Roster) part(room string) *part {
	return &r.parts[maphash.String(r.seed, room)%parts]
}

// Add records that a connection of user joined room, and reports whether
// it is the user's first there.
func (r *Roster) Add(name, user string) bool {
	p := r.part(name)
	p.mu.Lock()
	defer p.mu.Unlock()
	rm := p.m[name]
	if rm == nil {
		// Copies: the names may alias a loop's buffer.
		name = strings.Clone(name)
		rm = &room{name: name, users: btree.NewG(degree, lessMember)}
		p.m[name] = rm
		r.rmu.Lock()
		r.rooms.ReplaceOrInsert(rm)
		r.rmu.Unlock()
	}
	m, ok := rm.users.Get(member{user: user})
	if !ok {
		m.user = strings.Clone(user)
		rm.n.Add(1)
		r.memberships.Add(1)
	}
	m.conns++
	rm.users.ReplaceOrInsert(m)
	return !ok
}

// Remove records that a connection of user left room, and reports whether
// it was the user's last there.
func (r *Roster) Remove(name, user string) bool {
	p := r.part(name)
	p.mu.Lock()
	defer p.mu.Unlock()
	rm := p.m[name]
	if rm == nil {
		return false
	}
	m, ok := rm.users.Get(member{user: user})
	if !ok {
		return false
	}
	if m.conns--; m.conns > 0 {
		rm.users.ReplaceOrInsert(m)
		return false
	}
	rm.users.Delete(m)
	r.memberships.Add(-1)
	if rm.n.Add(-1) == 0 {
		delete(p.m, name)
		r.rmu.Lock()
		r.rooms.Delete(rm)
		r.rmu.Unlock()
	}
	return true
}

// Has reports whether user has a connection in room.
func (r *Roster) Has(name, user string) bool {
	p := r.part(name)
	p.mu.Lock()
	defer p.mu.Unlock()
	rm := p.m[name]
	if rm == nil {
		return false
	}
	_, ok := rm.users.Get(member{user: user})
	return ok
}

// Count is the number of users in room.
func (r *Roster) Count(name string) int {
	p := r.part(name)
	p.mu.Lock()
	defer p.mu.Unlock()
	if rm := p.m[name]; rm != nil {
		return int(rm.n.Load())
	}
	return 0
}

// Members returns up to limit users of room whose names sort after
// after ("" from the first), in name order, the room's user count, and
// whether more users follow the page.
func (r *Roster) Members(name, after string, limit int) (users []string, count int, more bool) {
	p := r.part(name)
	p.mu.Lock()
	defer p.mu.Unlock()
	rm := p.m[name]
	if rm == nil {
		return []string{}, 0, false
	}
	users = make([]string, 0, min(limit, int(rm.n.Load())))
	rm.users.AscendGreaterOrEqual(member{user: after}, func(m member) bool {
		if m.user == after && after != "" {
			return true
		}
		if len(users) == limit {
			more = true
			return false
		}
		users = append(users, m.user)
		return true
	})
	return users, int(rm.n.Load()), more
}

// RoomCount is a room and its number of users.
type RoomCount struct {
	Room  string `json:"room"`
	Users int    `json:"users"`
}

// Rooms returns up to limit rooms whose names sort after after, in name
// order, with their user counts, the number of rooms, and whether more
// follow the page.
func (r *Roster) Rooms(after string, limit int) (rooms []RoomCount, total int, more bool) {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	rooms = make([]RoomCount, 0, min(limit, r.rooms.Len()))
	r.rooms.AscendGreaterOrEqual(&room{name: after}, func(rm *room) bool {
		if rm.name == after && after != "" {
			return true
		}
		if len(rooms) == limit {
			more = true
			return false
		}
		rooms = append(rooms, RoomCount{Room: rm.name, Users: int(rm.n.Load())})
		return true
	})
	return rooms, r.rooms.Len(), more
}

// Each calls f for every room with the users in it, a room at a time
// under its part's lock: f must not call the roster, nor keep users
// after it returns.
func (r *Roster) Each(f func(room string, users []string)) {
	var users []string
	for i := range r.parts {
		p := &r.parts[i]
		p.mu.Lock()
		for name, rm := range p.m {
			users = users[:0]
			rm.users.Ascend(func(m member) bool {
				users = append(users, m.user)
				return true
			})
			f(name, users)
		}
		p.mu.Unlock()
	}
}

// Stats are the roster's sizes: rooms with a user, and (room, user)
// pairs.
func (r *Roster) Stats() (rooms, memberships int64) {
	r.rmu.Lock()
	n := r.rooms.Len()
	r.rmu.Unlock()
	return int64(n), r.memberships.Load()
}

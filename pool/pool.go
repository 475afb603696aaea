package pool

import (
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// Errors of Join.
var (
	ErrTooManyRooms = errors.New("pool: member is in too many rooms")
	ErrNotLive      = errors.New("pool: member is not in the pool")
)

// dirShards is the number of hash shards of each directory: the low
// dirBits bits of a name's hash pick its shard.
const (
	dirBits   = 6
	dirShards = 1 << dirBits
)

// DefaultMaxRooms is the default cap on the rooms one member is in.
const DefaultMaxRooms = 64

// Config configures a Pool.
type Config struct {
	// Shards is the number of member shards, one per event loop. Zero
	// means 1.
	Shards int
	// MaxRooms caps the rooms one member may be in. Zero means 64.
	MaxRooms int
}

// Pool is the registry. Its directory methods (User, Room and the counts) are safe for any goroutine; the methods that take a *Member run
// on the goroutine that owns the member's shard.
type Pool struct {
	cfg    Config
	shards []Shard
	seed   maphash.Seed
	nextID atomic.Uint64

	users [dirShards]userDir
	rooms [dirShards]roomDir

	nConns, nUsers, nRooms atomic.Int64
}

// The directory shards are padded to 64 bytes, so that two loops working on
// neighbouring shards do not share a cache line.
type userDir struct {
	mu   sync.Mutex
	m    userTable           // the head of the user's list
	kept map[string][]string // rooms the user stays in across connections
	_    [16]byte
}

type roomDir struct {
	mu sync.Mutex
	m  map[string]*Room
	_  [48]byte
}

// Room is a room's entry in the directory: how many members it has on each
// shard, so that a fan-out visits only the shards where it has some.
type Room struct {
	name  string
	total atomic.Int64
	on    []atomic.Int32
}

// Name is the room's name.
func (r *Room) Name() string { return r.name }

// Len is the room's member count across all shards.
func (r *Room) Len() int { return int(r.total.Load()) }

// On is the room's member count on shard i.
func (r *Room) On(i int) int { return int(r.on[i].Load()) }

// New returns an empty Pool.
func New(cfg Config) *Pool {
	if cfg.Shards <= 0 {
		cfg.Shards = 1
	}
	if cfg.MaxRooms <= 0 {
		cfg.MaxRooms = DefaultMaxRooms
	}
	p := &Pool{cfg: cfg, shards: make([]Shard, cfg.Shards), seed: maphash.MakeSeed()}
	for i := range dirShards {
		p.users[i].kept = make(map[string][]string)
		p.rooms[i].m = make(map[string]*Room)
	}
	return p
}

// Shards is the number of member shards.
func (p *Pool) Shards() int { return len(p.shards) }

// Shard returns shard i. Only the goroutine that owns it may use it.
func (p *Pool) Shard(i int) *Shard { return &p.shards[i] }

func (p *Pool) dir(key string) int {
	return int(maphash.String(p.seed, key) & (dirShards - 1))
}

// userDir returns the directory shard of user and the hash its table
// keys the user by.
func (p *Pool) userDir(user string) (*userDir, uint64) {
	h := maphash.String(p.seed, user)
	return &p.users[h&(dirShards-1)], h >> dirBits
}

// Add registers m on shard i, assigns its id and returns it. It runs on
// the goroutine that owns shard i.
func (p *Pool) Add(m *Member, i int) uint64 {
	m.id = p.nextID.Add(1)
	m.shard = int32(i)
	m.live = true
	p.shards[i].link(m)

	u, h := p.userDir(m.User)
	u.mu.Lock()
	head := u.m.get(h, m.User)
	m.uprev, m.unext = nil, head
	if head != nil {
		head.uprev = m
	} else {
		p.nUsers.Add(1)
	}
	u.m.set(p.seed, h, m)
	var kept []string
	if rooms := u.kept[m.User]; len(rooms) > 0 {
		kept = append(kept, rooms...)
	}
	u.mu.Unlock()

	p.nConns.Add(1)
	for _, room := range kept {
		_, _ = p.Join(m, room)
	}
	return m.id
}

// Keep records that user stays in room across connections: every member
// Add registers for the user from now on joins it. It does not touch the
// user's members already in the pool (the caller joins those on their
// shards). It reports false if the user was kept in room already, and
// fails with ErrTooManyRooms past MaxRooms kept rooms. Any goroutine may
// call it.
func (p *Pool) Keep(user, room string) (bool, error) {
	u := &p.users[p.dir(user)]
	u.mu.Lock()
	defer u.mu.Unlock()
	rooms := u.kept[user]
	for _, r := range rooms {
		if r == room {
			return false, nil
		}
	}
	if len(rooms) >= p.cfg.MaxRooms {
		return false, ErrTooManyRooms
	}
	u.kept[user] = append(rooms, room)
	return true, nil
}

// Unkeep forgets that user stays in room. It reports false if it was not.
// Any goroutine may call it.
func (p *Pool) Unkeep(user, room string) bool {
	u := &p.users[p.dir(user)]
	u.mu.Lock()
	defer u.mu.Unlock()
	rooms := u.kept[user]
	for i, r := range rooms {
		if r != room {
			continue
		}
		rooms = append(rooms[:i], rooms[i+1:]...)
		if len(rooms) == 0 {
			delete(u.kept, user)
		} else {
			u.kept[user] = rooms
		}
		return true
	}
	return false
}

// IsKept reports whether user is kept in room (Keep). Any goroutine may
// call it.
func (p *Pool) IsKept(user, room string) bool {
	u := &p.users[p.dir(user)]
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, r := range u.kept[user] {
		if r == room {
			return true
		}
	}
	return false
}

// Remove takes m out of the pool and out of every room it is in. It runs
// on the goroutine that owns m's shard; removing twice is harmless.
func (p *Pool) Remove(m *Member) {
	if !m.live {
		return
	}
	m.live = false
	for ms := m.rooms; ms != nil; ms = ms.mnext {
		p.leave(m, ms)
	}
	m.rooms = nil
	p.shards[m.shard].unlink(m)

	u, h := p.userDir(m.User)
	u.mu.Lock()
	if m.uprev != nil {
		m.uprev.unext = m.unext
	} else if m.unext != nil {
		u.m.set(p.seed, h, m.unext)
	} else {
		u.m.delete(p.seed, h, m.User)
		p.nUsers.Add(-1)
	}
	if m.unext != nil {
		m.unext.uprev = m.uprev
	}
	m.unext, m.uprev = nil, nil
	u.mu.Unlock()

	p.nConns.Add(-1)
}

// Join puts m in room. It reports false if m was in it already. It runs
// on the goroutine that owns m's shard.
func (p *Pool) Join(m *Member, room string) (bool, error) {
	if !m.live {
		return false, ErrNotLive
	}
	n := 0
	for ms := m.rooms; ms != nil; ms = ms.mnext {
		if ms.room == room {
			return false, nil
		}
		n++
	}
	if n >= p.cfg.MaxRooms {
		return false, ErrTooManyRooms
	}
	ms := &membership{m: m, room: room, mnext: m.rooms}
	m.rooms = ms
	p.shards[m.shard].joinRoom(ms)

	d := &p.rooms[p.dir(room)]
	d.mu.Lock()
	r := d.m[room]
	if r == nil {
		r = &Room{name: room, on: make([]atomic.Int32, len(p.shards))}
		d.m[room] = r
		p.nRooms.Add(1)
	}
	r.on[m.shard].Add(1)
	r.total.Add(1)
	d.mu.Unlock()
	return true, nil
}

// Leave takes m out of room. It reports false if m was not in it. It runs
// on the goroutine that owns m's shard.
func (p *Pool) Leave(m *Member, room string) bool {
	var prev *membership
	for ms := m.rooms; ms != nil; prev, ms = ms, ms.mnext {
		if ms.room != room {
			continue
		}
		if prev == nil {
			m.rooms = ms.mnext
		} else {
			prev.mnext = ms.mnext
		}
		p.leave(m, ms)
		return true
	}
	return false
}

// leave unlinks ms from its room's list and the room directory; the
// caller unlinks it from the member's own list.
func (p *Pool) leave(m *Member, ms *membership) {
	p.shards[m.shard].leaveRoom(ms)
	d := &p.rooms[p.dir(ms.room)]
	d.mu.Lock()
	r := d.m[ms.room]
	r.on[m.shard].Add(-1)
	if r.total.Add(-1) == 0 {
		delete(d.m, ms.room)
		p.nRooms.Add(-1)
	}
	d.mu.Unlock()
}

// Rooms calls f for each room m is in. It runs on the goroutine that owns
// m's shard.
func (p *Pool) Rooms(m *Member, f func(room string)) {
	for ms := m.rooms; ms != nil; ms = ms.mnext {
		f(ms.room)
	}
}

// Room returns the room's directory entry, or nil when it has no members.
func (p *Pool) Room(name string) *Room {
	d := &p.rooms[p.dir(name)]
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m[name]
}

// User appends the user's members to dst and returns it. The members may
// be removed at any time after User returns: whoever acts on one does so
// on its shard's goroutine and checks that it is still there.
func (p *Pool) User(name string, dst []*Member) []*Member {
	u, h := p.userDir(name)
	u.mu.Lock()
	for m := u.m.get(h, name); m != nil; m = m.unext {
		dst = append(dst, m)
	}
	u.mu.Unlock()
	return dst
}

// UserConns is the number of connections the user has.
func (p *Pool) UserConns(name string) int {
	u, h := p.userDir(name)
	u.mu.Lock()
	n := 0
	for m := u.m.get(h, name); m != nil; m = m.unext {
		n++
	}
	u.mu.Unlock()
	return n
}

// Live reports whether m is in the pool. It runs on m's shard goroutine.
func (m *Member) Live() bool { return m.live }

// Conns is the number of members in the pool.
func (p *Pool) Conns() int { return int(p.nConns.Load()) }

// Users is the number of distinct users with at least one member.
func (p *Pool) Users() int { return int(p.nUsers.Load()) }

// RoomCount is the number of rooms with at least one member.
func (p *Pool) RoomCount() int { return int(p.nRooms.Load()) }

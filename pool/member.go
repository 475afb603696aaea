package pool

// Conn is the connection a Member stands for. Send writes one encoded
// frame; the pool calls it only from the goroutine that owns the member's
// shard, and the bytes are shared with other members: Send must not keep
// or modify them after it returns.
type Conn interface {
	Send(b []byte) error
}

// Member is one connection's entry in the pool. The caller allocates it,
// sets Conn and User, and hands it to Pool.Add; after that its fields are
// read-only for the caller until Pool.Remove.
type Member struct {
	// Conn receives what is sent to this member.
	Conn Conn
	// User is the user id the connection belongs to; never empty.
	User string

	id    uint64
	shard int32
	live  bool

	// The user's connections, a list guarded by the user directory shard.
	unext, uprev *Member
	// All members of the shard, owned by the shard's goroutine.
	snext, sprev *Member
	// The rooms this member is in, or nil: owned by the shard's goroutine.
	rooms *membership
}

// ID is the member's connection id, unique in the pool, assigned by Add.
func (m *Member) ID() uint64 { return m.id }

// Key is a member in no pool, with only a user and an id: a search key for
// an index of members in (User, ID) order.
func Key(user string, id uint64) Member { return Member{User: user, id: id} }

// Shard is the index of the shard the member lives in.
func (m *Member) Shard() int { return int(m.shard) }

// membership links a member into one room's list on its shard.
type membership struct {
	m          *Member
	room       string
	next, prev *membership // in the room's list on the shard
	mnext      *membership // the member's next room
}

package pool

import "hash/maphash"

// userTable maps a user id to the head of the user's list of members: an
// open-addressing hash table of *Member, keyed by Member.User, probed
// linearly. One slot is a pointer, 8 bytes, where a map[string]*Member
// spends 25 on its key, value and control byte; at the loads it runs
// between (7/16 to 7/8 full) an entry costs 9 to 18 bytes instead of 29 to
// 57. It is one user directory shard's, guarded by that shard's lock.
type userTable struct {
	slots []*Member // len is zero or a power of two
	n     int       // occupied slots
}

// userTableMin is the slot count of a table's first allocation.
const userTableMin = 8

// find returns the slot of user, whose hash is h, and whether it holds
// the user; when it does not, the slot is where the user would go.
func (t *userTable) find(h uint64, user string) (int, bool) {
	mask := len(t.slots) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		m := t.slots[i]
		if m == nil {
			return i, false
		}
		if m.User == user {
			return i, true
		}
	}
}

// get returns the head of user's list, or nil.
func (t *userTable) get(h uint64, user string) *Member {
	if t.n == 0 {
		return nil
	}
	i, ok := t.find(h, user)
	if !ok {
		return nil
	}
	return t.slots[i]
}

// set makes m the head of m.User's list, whose hash is h, inserting the
// user if it has none. seed rehashes the users when the table grows.
func (t *userTable) set(seed maphash.Seed, h uint64, m *Member) {
	if 8*(t.n+1) > 7*len(t.slots) {
		t.grow(seed)
	}
	i, ok := t.find(h, m.User)
	if !ok {
		t.n++
	}
	t.slots[i] = m
}

// grow doubles the table (or makes its first one) and places every user
// again.
func (t *userTable) grow(seed maphash.Seed) {
	old := t.slots
	t.slots = make([]*Member, max(2*len(old), userTableMin))
	for _, m := range old {
		if m != nil {
			i, _ := t.find(maphash.String(seed, m.User)>>dirBits, m.User)
			t.slots[i] = m
		}
	}
}

// delete removes user, whose hash is h, if it is in the table. The slots
// after it in its probe run move back to close the hole (Knuth's
// algorithm R), so that no tombstone is left to lengthen later probes.
func (t *userTable) delete(seed maphash.Seed, h uint64, user string) {
	if t.n == 0 {
		return
	}
	i, ok := t.find(h, user)
	if !ok {
		return
	}
	mask := len(t.slots) - 1
	t.slots[i] = nil
	t.n--
	for j := (i + 1) & mask; t.slots[j] != nil; j = (j + 1) & mask {
		m := t.slots[j]
		home := int(maphash.String(seed, m.User)>>dirBits) & mask
		// m may move back to the hole at i unless its home lies in the
		// cyclic range (i, j]: then i comes before its home.
		if (j-home)&mask >= (j-i)&mask {
			t.slots[i], t.slots[j] = m, nil
			i = j
		}
	}
}

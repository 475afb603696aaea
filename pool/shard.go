package pool

// Shard holds the members of one event loop and, for each room, those of
// its members that are in it. Only the goroutine that owns the shard may
// call its methods or the Pool methods that take one of its members.
type Shard struct {
	head  *Member
	n     int
	rooms map[string]*roomList
}

// roomList is one room's members on one shard.
type roomList struct {
	head *membership
	n    int
}

// Len is the number of members on the shard.
func (s *Shard) Len() int { return s.n }

// Each calls f for every member of the shard. f may remove the member it
// is given from the pool (a failed Send that closes the connection), but
// no other member.
func (s *Shard) Each(f func(*Member)) {
	for m := s.head; m != nil; {
		next := m.snext
		f(m)
		m = next
	}
}

// EachInRoom calls f for every member of the shard that is in room, under
// the same rule as Each.
func (s *Shard) EachInRoom(room string, f func(*Member)) {
	l := s.rooms[room]
	if l == nil {
		return
	}
	for ms := l.head; ms != nil; {
		next := ms.next
		f(ms.m)
		ms = next
	}
}

func (s *Shard) link(m *Member) {
	m.sprev, m.snext = nil, s.head
	if s.head != nil {
		s.head.sprev = m
	}
	s.head = m
	s.n++
}

func (s *Shard) unlink(m *Member) {
	if m.sprev != nil {
		m.sprev.snext = m.snext
	} else {
		s.head = m.snext
	}
	if m.snext != nil {
		m.snext.sprev = m.sprev
	}
	m.snext, m.sprev = nil, nil
	s.n--
}

func (s *Shard) joinRoom(ms *membership) {
	if s.rooms == nil {
		s.rooms = make(map[string]*roomList)
	}
	l := s.rooms[ms.room]
	if l == nil {
		l = &roomList{}
		s.rooms[ms.room] = l
	}
	ms.prev, ms.next = nil, l.head
	if l.head != nil {
		l.head.prev = ms
	}
	l.head = ms
	l.n++
}

func (s *Shard) leaveRoom(ms *membership) {
	l := s.rooms[ms.room]
	if ms.prev != nil {
		ms.prev.next = ms.next
	} else {
		l.head = ms.next
	}
	if ms.next != nil {
		ms.next.prev = ms.prev
	}
	ms.next, ms.prev = nil, nil
	if l.n--; l.n == 0 {
		delete(s.rooms, ms.room)
	}
}

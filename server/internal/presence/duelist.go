package presence

import "time"

// dueList holds users each with a due time, queued in the order they were
// set, so that expiry looks only at what has come due instead of scanning
// every user. Setting a user again, or removing it, leaves a stale queue
// entry that expiry skips. Due times are expected to be set in rising
// order (now plus a fixed grace); one set out of order only delays the
// expiry of the entries queued after it. Not safe for concurrent use.
type dueList struct {
	due  map[string]time.Time
	q    []dueEntry
	head int // q[:head] has been expired
}

type dueEntry struct {
	user string
	due  time.Time
}

// set makes user due at t.
func (l *dueList) set(user string, t time.Time) {
	if l.due == nil {
		l.due = make(map[string]time.Time)
	}
	l.due[user] = t
	l.q = append(l.q, dueEntry{user, t})
}

// remove forgets user.
func (l *dueList) remove(user string) { delete(l.due, user) }

// get returns user's due time.
func (l *dueList) get(user string) (time.Time, bool) {
	t, ok := l.due[user]
	return t, ok
}

// queued is the number of queue entries, stale ones included: what the
// list holds in memory.
func (l *dueList) queued() int { return len(l.q) - l.head }

// expire takes out every user due at or before now, calling f (if not nil)
// for each with its due time.
func (l *dueList) expire(now time.Time, f func(user string, due time.Time)) {
	for l.head < len(l.q) && !now.Before(l.q[l.head].due) {
		e := l.q[l.head]
		l.q[l.head] = dueEntry{}
		l.head++
		if t, ok := l.due[e.user]; !ok || !t.Equal(e.due) {
			continue // removed, or set again later
		}
		delete(l.due, e.user)
		if f != nil {
			f(e.user, e.due)
		}
	}
	// Reuse the queue's front once most of it is spent.
	if l.head > 0 && l.head >= len(l.q)/2 {
		n := copy(l.q, l.q[l.head:])
		clear(l.q[n:])
		l.q, l.head = l.q[:n], 0
	}
}

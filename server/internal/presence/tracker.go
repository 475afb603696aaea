package presence

import (
	"sync"
	"sync/atomic"
	"time"
)

// Tracker remembers the users whose last connection closed, until their
// grace ends. Safe for any goroutine.
type Tracker struct {
	grace   time.Duration
	expired func(user string, due time.Time)

	mu   sync.Mutex
	left dueList // users, due when their grace ends
	n    atomic.Int64
}

// New returns a Tracker with grace period grace. expired, when not nil, is
// called for each user whose grace passed without a new connection, with
// the time it passed, from whichever goroutine ran the expiry (Left or
// Expire), under the Tracker's lock: it must not block or call back.
func New(grace time.Duration, expired func(user string, due time.Time)) *Tracker {
	return &Tracker{grace: grace, expired: expired}
}

// Grace is the grace period.
func (t *Tracker) Grace() time.Duration { return t.grace }

// Left records that user's last connection closed at now. It also expires
// whatever has come due.
func (t *Tracker) Left(user string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expire(now)
	t.left.set(user, now.Add(t.grace))
	t.n.Store(int64(len(t.left.due)))
}

// Back records that user has a connection again: its grace ends without
// it going offline.
func (t *Tracker) Back(user string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.left.remove(user)
	t.n.Store(int64(len(t.left.due)))
}

// Within reports whether user's last connection closed less than the
// grace before now.
func (t *Tracker) Within(user string, now time.Time) bool {
	if t.grace <= 0 {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	end, ok := t.left.get(user)
	return ok && now.Before(end)
}

// Expire takes out every user whose grace has passed at now, calling the
// expiry callback for each.
func (t *Tracker) Expire(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expire(now)
	t.n.Store(int64(len(t.left.due)))
}

func (t *Tracker) expire(now time.Time) {
	t.left.expire(now, t.expired)
}

// Len is the number of users within their grace: what the Tracker holds.
func (t *Tracker) Len() int { return int(t.n.Load()) }

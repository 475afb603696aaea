package presence

import (
	"sync"
	"time"
)

// DefaultTick is how often a started Grace looks for users whose grace
// passed, when Config.Tick is zero.
const DefaultTick = 100 * time.Millisecond

// Config configures a Grace. The zero value makes a user offline at the
// first tick after its last connection closed, and tells nobody.
type Config struct {
	// Grace is how long a user still counts as online after its last
	// connection closed. Zero means not at all.
	Grace time.Duration
	// Tick is how often the clock Start runs looks for users whose grace
	// passed: the most an offline comes late. Zero means 100ms.
	Tick time.Duration
	// Now is the clock that Left, Within and every tick read. Nil means
	// time.Now; a test passes a clock it sets.
	Now func() time.Time
	// Expired, when not nil, is given at each tick the users whose grace
	// passed since the last one without a new connection, in the order it
	// passed, and when it passed for each (due[i] is users[i]'s). It runs on
	// the Grace's goroutine (or Expire's caller), outside every lock of the
	// Grace, and keeps the slices; it must not block. Nil tells nobody:
	// Start then runs no clock, and the users are forgotten as Left finds
	// them due.
	Expired func(users []string, due []time.Time)
}

// Grace is the offline grace with its own clock: a Tracker whose expiry
// runs on a goroutine of its own, every Config.Tick, and hands the users
// whose grace passed to Config.Expired in one call. Its methods are safe
// for any goroutine; Left, Back and Within hold its lock for one list
// operation and never wait for the callback, so an event loop may call
// them.
//
// Users that Left's own expiry takes out (it expires what has come due,
// so that memory stays with what is pending) wait in the Grace until the
// next tick, so that Expired always runs on the clock's goroutine.
type Grace struct {
	cfg Config
	t   *Tracker

	// Users taken out by an expiry, waiting for the next tick. collect
	// takes mu under t's own lock, Expire alone: always in that order.
	mu    sync.Mutex
	users []string
	due   []time.Time

	startOnce, closeOnce sync.Once
	quit                 chan struct{} // closed by Close
	done                 chan struct{} // closed when the clock has stopped
}

// NewGrace returns the Grace for cfg, its clock not yet running (Start).
func NewGrace(cfg Config) *Grace {
	if cfg.Tick <= 0 {
		cfg.Tick = DefaultTick
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Grace{cfg: cfg, quit: make(chan struct{}), done: make(chan struct{})}
	var collect func(string, time.Time)
	if cfg.Expired != nil {
		collect = g.collect
	}
	g.t = New(cfg.Grace, collect)
	return g
}

// collect keeps a user whose grace passed for the next tick. It is the
// Tracker's callback, and runs under the Tracker's lock.
func (g *Grace) collect(user string, due time.Time) {
	g.mu.Lock()
	g.users = append(g.users, user)
	g.due = append(g.due, due)
	g.mu.Unlock()
}

// Left records that user's last connection closed now: its grace starts.
func (g *Grace) Left(user string) { g.t.Left(user, g.cfg.Now()) }

// Back records that user has a connection again: its grace ends without
// it going offline.
func (g *Grace) Back(user string) { g.t.Back(user) }

// Within reports whether user's last connection closed less than the
// grace ago.
func (g *Grace) Within(user string) bool { return g.t.Within(user, g.cfg.Now()) }

// Online reports whether user, with conns connections, counts as online:
// connected, or gone for less than the grace. A nil Grace has none.
func (g *Grace) Online(user string, conns int) bool {
	return conns > 0 || g != nil && g.Within(user)
}

// Len is the number of users within their grace.
func (g *Grace) Len() int { return g.t.Len() }

// Expire is one tick of the clock: it takes out every user whose grace
// has passed at Config.Now and hands them, with those Left took out since
// the last tick, to Config.Expired. Start's goroutine calls it every
// Config.Tick; a test without Start calls it by hand after moving its
// clock.
func (g *Grace) Expire() {
	g.t.Expire(g.cfg.Now())
	g.mu.Lock()
	users, due := g.users, g.due
	g.users, g.due = nil, nil
	g.mu.Unlock()
	if len(users) > 0 {
		g.cfg.Expired(users, due)
	}
}

// Start runs the clock: a goroutine that calls Expire every Config.Tick
// until Close. Without Config.Expired there is nobody to tell, and it
// does nothing.
func (g *Grace) Start() {
	if g.cfg.Expired == nil {
		return
	}
	g.startOnce.Do(func() { go g.run() })
}

// run is the clock.
func (g *Grace) run() {
	defer close(g.done)
	tick := time.NewTicker(g.cfg.Tick)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			g.Expire()
		case <-g.quit:
			return
		}
	}
}

// Close stops the clock and waits until it has stopped: after it,
// Expired is called only by Expire's own callers. Users still within
// their grace are not told. Close may be called more than once, and
// without Start.
func (g *Grace) Close() {
	started := true
	g.startOnce.Do(func() { started = false })
	g.closeOnce.Do(func() { close(g.quit) })
	if started {
		<-g.done
	}
}

package presence

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// manualClock is a clock a test sets; any goroutine may read it.
type manualClock struct{ ns atomic.Int64 }

func newClock(t time.Time) *manualClock {
	c := &manualClock{}
	c.set(t)
	return c
}

func (c *manualClock) now() time.Time  { return time.Unix(0, c.ns.Load()) }
func (c *manualClock) set(t time.Time) { c.ns.Store(t.UnixNano()) }

// expiries records what a Grace's Expired was given, call by call, as
// "user@seconds" (the seconds of the due time).
type expiries struct {
	mu    sync.Mutex
	calls [][]string
	ready chan struct{} // receives once per call
}

func newExpiries() *expiries { return &expiries{ready: make(chan struct{}, 100)} }

func (e *expiries) expired(users []string, due []time.Time) {
	call := make([]string, len(users))
	for i, u := range users {
		call[i] = fmt.Sprintf("%s@%d", u, due[i].Unix()%100)
	}
	e.mu.Lock()
	e.calls = append(e.calls, call)
	e.mu.Unlock()
	e.ready <- struct{}{}
}

func (e *expiries) got() [][]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.calls)
}

func TestGraceHandsOverEveryUserWhoseGracePassedInOneCall(t *testing.T) {
	clock := newClock(time.Unix(1700000000, 0)) // ...00 s
	t0 := clock.now()
	ex := newExpiries()
	g := NewGrace(Config{Grace: 10 * time.Second, Now: clock.now, Expired: ex.expired})
	g.Left("a")
	g.Left("b")
	g.Back("b") // back within the grace: never offline
	clock.set(t0.Add(5 * time.Second))
	g.Left("c")
	if !g.Within("a") || g.Within("b") || !g.Within("c") || g.Len() != 2 {
		t.Fatalf("within: a %v b %v c %v, %d users", g.Within("a"), g.Within("b"), g.Within("c"), g.Len())
	}

	clock.set(t0.Add(10*time.Second - time.Millisecond))
	g.Expire()
	if calls := ex.got(); len(calls) != 0 {
		t.Fatalf("expired before the grace passed: %v", calls)
	}
	clock.set(t0.Add(20 * time.Second))
	g.Expire()
	g.Expire() // nothing more is due: no call
	if calls, want := ex.got(), [][]string{{"a@10", "c@15"}}; !slices.EqualFunc(calls, want, slices.Equal) {
		t.Fatalf("expired %v, want %v: one call, each user at the end of its grace", calls, want)
	}
	if g.Within("a") || g.Len() != 0 {
		t.Fatalf("after its grace a is within: %v, %d users", g.Within("a"), g.Len())
	}
}

// Left expires what has come due, to keep memory to what is pending; the
// users it takes out must still reach Expired, at the next tick and not on
// Left's goroutine (an event loop).
func TestGraceGivesWhatLeftExpiredToTheNextTick(t *testing.T) {
	clock := newClock(time.Unix(1700000000, 0))
	t0 := clock.now()
	ex := newExpiries()
	g := NewGrace(Config{Grace: 10 * time.Second, Now: clock.now, Expired: ex.expired})
	g.Left("a")
	clock.set(t0.Add(30 * time.Second))
	g.Left("b") // takes a out
	if calls := ex.got(); len(calls) != 0 {
		t.Fatalf("Left called Expired: %v", calls)
	}
	if g.Len() != 1 {
		t.Fatalf("%d users within their grace, want b alone", g.Len())
	}
	g.Expire()
	if calls, want := ex.got(), [][]string{{"a@10"}}; !slices.EqualFunc(calls, want, slices.Equal) {
		t.Fatalf("expired %v, want %v", calls, want)
	}
}

func TestGraceWithoutAPeriodExpiresAtTheNextTick(t *testing.T) {
	clock := newClock(time.Unix(1700000042, 0))
	ex := newExpiries()
	g := NewGrace(Config{Now: clock.now, Expired: ex.expired})
	g.Left("a")
	if g.Within("a") {
		t.Fatal("within a zero grace")
	}
	g.Expire()
	if calls, want := ex.got(), [][]string{{"a@42"}}; !slices.EqualFunc(calls, want, slices.Equal) {
		t.Fatalf("expired %v, want %v", calls, want)
	}
}

// Start's clock ticks by itself; the time it reads is still Config.Now,
// so the test decides when the grace passes.
func TestGraceStartRunsItsOwnClockUntilClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	clock := newClock(time.Unix(1700000000, 0))
	t0 := clock.now()
	ex := newExpiries()
	g := NewGrace(Config{Grace: time.Minute, Tick: time.Millisecond, Now: clock.now, Expired: ex.expired})
	g.Start()
	g.Start() // once is enough
	g.Left("a")
	clock.set(t0.Add(time.Minute))
	select {
	case <-ex.ready:
	case <-time.After(5 * time.Second):
		t.Fatal("no tick expired a in 5 s")
	}
	g.Close()
	g.Close()
	g.Left("b")
	clock.set(t0.Add(3 * time.Minute))
	// No clock now: b waits for a tick by hand.
	if calls, want := ex.got(), [][]string{{"a@60"}}; !slices.EqualFunc(calls, want, slices.Equal) {
		t.Fatalf("expired %v, want %v", calls, want)
	}
	g.Expire()
	if calls := ex.got(); len(calls) != 2 || !slices.Equal(calls[1], []string{"b@20"}) {
		t.Fatalf("expired %v, want b's by hand after Close", calls)
	}
}

// With nobody to tell there is no clock: no goroutine, and Left alone
// keeps the memory to the users within their grace.
func TestGraceWithoutExpiredRunsNoClock(t *testing.T) {
	defer goleak.VerifyNone(t)
	clock := newClock(time.Unix(1700000000, 0))
	t0 := clock.now()
	g := NewGrace(Config{Grace: time.Second, Now: clock.now})
	g.Start()
	if err := goleak.Find(); err != nil {
		t.Fatalf("Start without Expired left a goroutine: %v", err)
	}
	for i := range 1000 {
		clock.set(t0.Add(time.Duration(i) * time.Second))
		g.Left(fmt.Sprint("u", i))
	}
	if g.Len() != 1 || g.t.left.queued() > 2 {
		t.Fatalf("%d users within their grace, %d queued: want the last one", g.Len(), g.t.left.queued())
	}
	g.Close()
}

func TestOnlineIsConnectedOrWithinTheGrace(t *testing.T) {
	start := time.Unix(1000, 0)
	clock := newClock(start)
	g := NewGrace(Config{Grace: 10 * time.Second, Now: clock.now})
	g.Left("al")
	for _, tc := range []struct {
		name  string
		g     *Grace
		user  string
		conns int
		after time.Duration
		want  bool
	}{
		{"connected", g, "bo", 1, 0, true},
		{"within the grace", g, "al", 0, 9 * time.Second, true},
		{"past the grace", g, "al", 0, 11 * time.Second, false},
		{"never seen", g, "bo", 0, 0, false},
		{"no grace, connected", nil, "al", 2, 0, true},
		{"no grace, gone", nil, "al", 0, 0, false},
	} {
		clock.set(start.Add(tc.after))
		if got := tc.g.Online(tc.user, tc.conns); got != tc.want {
			t.Errorf("%s: Online = %v, want %v", tc.name, got, tc.want)
		}
	}
}

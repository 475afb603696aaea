package engine

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// poolHooks records, for every Leaving and Left, how many connections the
// user still had in the pool at that moment.
type poolHooks struct {
	nopHooks
	s   atomic.Pointer[Engine]
	mu  sync.Mutex
	got []string
}

func (h *poolHooks) note(f string, args ...any) {
	h.mu.Lock()
	h.got = append(h.got, fmt.Sprintf(f, args...))
	h.mu.Unlock()
}

func (h *poolHooks) Leaving(user string) {
	h.note("leaving %s with %d in the pool", user, h.s.Load().pool.UserConns(user))
}

func (h *poolHooks) Left(user string, last bool) {
	h.note("left %s with %d in the pool, last %v", user, h.s.Load().pool.UserConns(user), last)
}

func (h *poolHooks) log() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

// The history keeps a user's messages while the user is connected or
// told of as leaving; Leaving comes while the connection is still in the
// pool, so there is no moment when a push finds the user neither (such a
// push was kept nowhere and a resume replayed around it with no gap).
func TestLeavingComesWhileTheConnectionIsInThePool(t *testing.T) {
	h := &poolHooks{}
	s := startEngineHooks(t, Config{}, h, nil)
	h.s.Store(s)
	a := wsDial(t, s, "/ws?user=ann")
	b := wsDial(t, s, "/ws?user=ann")
	waitFor(t, 2*time.Second, func() error {
		if n := s.UserConns("ann"); n != 2 {
			return fmt.Errorf("ann has %d connections", n)
		}
		return nil
	})
	a.Close()
	waitFor(t, 2*time.Second, func() error {
		if n := len(h.log()); n != 2 {
			return fmt.Errorf("%d events after the first close", n)
		}
		return nil
	})
	b.Close()
	waitFor(t, 2*time.Second, func() error {
		if n := len(h.log()); n != 4 {
			return fmt.Errorf("%d events after the second close", n)
		}
		return nil
	})
	want := []string{
		"leaving ann with 2 in the pool",
		"left ann with 1 in the pool, last false",
		"leaving ann with 1 in the pool",
		"left ann with 0 in the pool, last true",
	}
	if got := h.log(); !slices.Equal(got, want) {
		t.Fatalf("hooks saw\n%q\nwant\n%q", got, want)
	}
}

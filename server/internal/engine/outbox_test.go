package engine

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/wire"
)

// holdLoop blocks the engine's only loop until the returned func is called.
func holdLoop(t *testing.T, s *Engine) (release func()) {
	t.Helper()
	l := s.loopList()[0]
	hold, held := make(chan struct{}), make(chan struct{})
	if !l.post(job{fn: func(*loop) int { close(held); <-hold; return 0 }}) {
		t.Fatal("the hold job was refused")
	}
	<-held
	return func() { close(hold) }
}

// A full outbox refuses new jobs with ErrBusy and counts them; what it
// took is delivered, in order.
func TestOutboxRefusesPastMaxQueueAndCounts(t *testing.T) {
	s := startEngine(t, Config{Loops: 1, MaxQueue: 4, MaxRate: -1}, nil)
	nc := wsDial(t, s, "/ws?user=al")
	if _, err := readText(nc, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	release := holdLoop(t, s) // the hold job has left the queue: 4 places
	took, refused := 0, 0
	for i := 1; i <= 10; i++ {
		f := wire.PushFrame(s.NextID(), "", []byte(strconv.Itoa(i)), "", "", 0, 0)
		switch err := s.PostUsers([]string{"al"}, f, 0); {
		case err == nil:
			took++
		case errors.Is(err, ErrBusy):
			refused++
		default:
			t.Fatal(err)
		}
	}
	if took != 4 || refused != 6 {
		t.Fatalf("took %d refused %d, want 4 and 6", took, refused)
	}
	if k := s.Counters(); k.Refused != 6 || k.Queued != 4 {
		t.Fatalf("counters: refused %d queued %d, want 6 and 4", k.Refused, k.Queued)
	}
	// A call that waits learns it too.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := s.DeliverAll(ctx, wire.PushFrame(s.NextID(), "", []byte("0"), "", "", 0, 0)); !errors.Is(err, ErrBusy) {
		t.Fatalf("DeliverAll on a full queue: %v", err)
	}
	release()
	for i := 1; i <= took; i++ {
		p, err := readText(nc, 5*time.Second)
		if err != nil || !strings.Contains(string(p), `"data":`+strconv.Itoa(i)+`,`) {
			t.Fatalf("push %d: %q %v", i, p, err)
		}
	}
	waitFor(t, time.Second, func() error {
		if q := s.Counters().Queued; q != 0 {
			return errorf("%d jobs queued after the drain", q)
		}
		return nil
	})
}

// A drain that runs out of budget yields the loop and goes on later, and
// the jobs still arrive in the order they were posted, before any posted
// after the yield.
func TestDrainYieldsAfterItsBudgetAndKeepsOrder(t *testing.T) {
	const n = 50
	s := startEngine(t, Config{Loops: 1, MaxRate: -1}, nil)
	nc := wsDial(t, s, "/ws?user=al")
	if _, err := readText(nc, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	onLoops(s, func(l *loop) int { l.budget = 3; return 0 })
	release := holdLoop(t, s)
	l := s.loopList()[0]
	before := l.drains.Load()
	for i := 1; i <= n; i++ {
		f := wire.PushFrame(s.NextID(), "", []byte(strconv.Itoa(i)), "", "", 0, 0)
		if err := s.PostUsers([]string{"al"}, f, 0); err != nil {
			t.Fatal(err)
		}
	}
	release()
	for i := 1; i <= n; i++ {
		p, err := readText(nc, 5*time.Second)
		if err != nil || !strings.Contains(string(p), `"data":`+strconv.Itoa(i)+`,`) {
			t.Fatalf("push %d: %q %v", i, p, err)
		}
	}
	if d := l.drains.Load() - before; d < n/3 {
		t.Fatalf("%d drains for %d jobs at a budget of 3: the drain did not yield", d, n)
	}
}

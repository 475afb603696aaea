package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/wire"
)

// While this node's deepest outbox is past MaxBacklog, every API call is
// refused as busy and publishes nothing; at the bound, calls go through
// again (issue 20: a cluster queued messages from Redis without end).
func TestBehindLoopsRefuseAPICallsAndPublishNothing(t *testing.T) {
	r, _, _, b, eb := start(t)
	ea := newFake()
	a := startCluster(t, r, "a2", ea, Config{HistorySize: 10, HistoryTTL: time.Minute, MaxBacklog: 8})
	a.behindWait = time.Millisecond // refused at once
	eb.users["al"] = 1
	b.Arrived("al")
	r.WaitSubs("wspush:u:al", 1)
	ctx := context.Background()

	ea.mu.Lock()
	ea.jobs = 9
	ea.mu.Unlock()
	busy := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrBehind) || !errors.Is(err, wire.ErrBusy) {
			t.Fatalf("%s past the bound: %v, want ErrBehind (busy)", what, err)
		}
	}
	_, err := a.Push(ctx, "", []string{"al"}, json.RawMessage(`{"n":1}`), "")
	busy("push", err)
	_, err = a.Publish(ctx, "", "lobby", json.RawMessage(`{"n":1}`), "")
	busy("publish", err)
	_, err = a.Broadcast(ctx, "", json.RawMessage(`{"n":1}`))
	busy("broadcast", err)
	out := a.PushBatch(ctx, []wire.Push{{Users: []string{"al"}, Data: json.RawMessage(`{"n":1}`)}, {Users: []string{"al"}, Data: json.RawMessage(`{"n":1}`)}})
	for i, o := range out {
		busy("batch message "+string(rune('0'+i)), o.Err)
	}
	if got := a.behind.Load(); got != 5 {
		t.Fatalf("behind counter %d, want 5", got)
	}
	if got := a.Counters().Published; got != 0 {
		t.Fatalf("%d published while behind", got)
	}

	ea.mu.Lock()
	ea.jobs = 8 // at the bound: not behind
	ea.mu.Unlock()
	if _, err := a.Push(ctx, "", []string{"al"}, json.RawMessage(`{"n":2}`), ""); err != nil {
		t.Fatal(err)
	}
	// The first delivery is the accepted push: none of the refused ones
	// reached Redis.
	p := eb.next(t)
	if p.kind != "users" || p.env["data"].(map[string]any)["n"] != 2.0 {
		t.Fatalf("first delivery %+v, want the push accepted at the bound", p)
	}
	eb.none(t)
}

// A call that finds the loops behind waits for them and is published
// once they catch up, rather than refused at once.
func TestACallWaitsForTheLoopsToCatchUp(t *testing.T) {
	r, _, _, b, eb := start(t)
	ea := newFake()
	a := startCluster(t, r, "a2", ea, Config{HistorySize: 10, HistoryTTL: time.Minute, MaxBacklog: 8})
	a.behindWait = time.Minute // the test lowers the backlog well before
	eb.users["al"] = 1
	b.Arrived("al")
	r.WaitSubs("wspush:u:al", 1)

	ea.mu.Lock()
	ea.jobs = 9
	ea.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		_, err := a.Push(context.Background(), "", []string{"al"}, json.RawMessage(`{"n":1}`), "")
		done <- err
	}()
	// The call is waiting once it has looked at the backlog again.
	waitUntil(t, func() bool {
		ea.mu.Lock()
		defer ea.mu.Unlock()
		return ea.looked >= 3
	})
	eb.none(t)
	ea.mu.Lock()
	ea.jobs = 0
	ea.mu.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p := eb.next(t); p.env["data"].(map[string]any)["n"] != 1.0 {
		t.Fatalf("delivery %+v", p)
	}
	if got := a.behind.Load(); got != 0 {
		t.Fatalf("behind counter %d after a call that waited and went through", got)
	}
}

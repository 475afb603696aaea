package engine

import (
	"context"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/wire"
	"github.com/wspush/wspush/server/internal/wstest"
)

// The roster follows every way into a room and out of it: the connect
// hook's rooms, a room the backend keeps the user in (named by the hook
// too: one membership), a client's join and leave, the connection's
// close; each user once however many of its connections are in.
func TestRosterFollowsEveryJoinAndLeave(t *testing.T) {
	s := startEngine(t, Config{
		Admit: admitFunc(func(_ context.Context, f wire.ConnectFacts) (wire.Admission, error) {
			return wire.Admission{User: f.Query.Get("user"), Rooms: []string{"kept", "hooked"}}, nil
		}),
	}, nil)
	r := s.Roster()
	if _, err := s.pool.Keep("ann", "kept"); err != nil {
		t.Fatal(err)
	}
	a1, _ := dialAs(t, s, "?user=ann", "")
	a2, _ := dialAs(t, s, "?user=ann", "")
	b, _ := dialAs(t, s, "?user=bob", "")
	b.SendJSON(`{"type":"join","room":"chat","ref":1}`)
	b.ExpectJSON("ack")
	wstest.WaitFor(t, 5*time.Second, func() error {
		if r.Count("kept") != 2 || r.Count("hooked") != 2 || !r.Has("chat", "bob") {
			return errorf("kept %d, hooked %d, chat has bob %v", r.Count("kept"), r.Count("hooked"), r.Has("chat", "bob"))
		}
		return nil
	})
	b.SendJSON(`{"type":"leave","room":"chat","ref":2}`)
	b.ExpectJSON("ack")
	if r.Has("chat", "bob") {
		t.Fatal("bob left chat but is listed")
	}
	a1.NC.Close()
	b.NC.Close()
	wstest.WaitFor(t, 5*time.Second, func() error {
		if !r.Has("kept", "ann") || r.Has("kept", "bob") || r.Count("hooked") != 1 {
			return errorf("after closes: kept %d (ann %v), hooked %d", r.Count("kept"), r.Has("kept", "ann"), r.Count("hooked"))
		}
		return nil
	})
	a2.NC.Close()
	wstest.WaitFor(t, 5*time.Second, func() error {
		if rooms, m := r.Stats(); rooms != 0 || m != 0 {
			return errorf("%d rooms, %d memberships left after every close", rooms, m)
		}
		return nil
	})
}

package local

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/engine"
	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/wstest"
)

// historyConfig keeps ten messages a stream for a minute.
func historyConfig() Config {
	return Config{HistorySize: 10, HistoryTTL: time.Minute}
}

// push sends data to user as the backend does.
func (n *node) push(t *testing.T, user, data string) {
	t.Helper()
	if _, err := n.b.Push(context.Background(), "", []string{user}, json.RawMessage(data), ""); err != nil {
		t.Fatal(err)
	}
}

// publish sends data to room as the backend does.
func (n *node) publish(t *testing.T, room, data string) {
	t.Helper()
	if _, err := n.b.Publish(context.Background(), "", room, json.RawMessage(data), ""); err != nil {
		t.Fatal(err)
	}
}

// waitGone waits until user has no connection left in the pool.
func (n *node) waitGone(t *testing.T, user string) {
	t.Helper()
	wstest.WaitFor(t, time.Second, func() error {
		if c := n.eng.UserConns(user); c != 0 {
			return fmt.Errorf("%s has %d connections", user, c)
		}
		return nil
	})
}

func TestResumeReplaysMissedPushesOnceInOrderThenLive(t *testing.T) {
	n := startNode(t, historyConfig(), engine.Config{}, 0)
	c := n.dial(t, "alice", "")
	n.push(t, "alice", `1`)
	seen := c.ExpectPush(`1`)
	if seen == "" {
		t.Fatal("a push carries no pos with history on")
	}
	c.NC.Close()
	n.waitGone(t, "alice")
	n.push(t, "alice", `2`)
	n.push(t, "alice", `3`)

	c = n.dial(t, "alice", "&resume=1")
	n.push(t, "alice", `4`) // before the resume: held, then replayed
	c.SendJSON(`{"type":"resume","user_pos":"` + seen + `","ref":1}`)
	c.ExpectPush(`2`)
	c.ExpectPush(`3`)
	last := c.ExpectPush(`4`)
	c.ExpectJSON("ack")
	n.push(t, "alice", `5`)
	if p := c.ExpectPush(`5`); p <= last {
		t.Fatalf("pos %s after %s", p, last)
	}
}

func TestResumeJoinsRoomsAndReplaysThem(t *testing.T) {
	n := startNode(t, historyConfig(), engine.Config{}, 0)
	c := n.dial(t, "bob", "")
	c.SendJSON(`{"type":"join","room":"chat","ref":1}`)
	c.ExpectJSON("ack")
	n.publish(t, "chat", `"a"`)
	seen := c.ExpectPush(`"a"`)
	c.NC.Close()
	wstest.WaitFor(t, time.Second, func() error {
		if n.eng.HasRoom("chat") {
			return fmt.Errorf("chat still has members")
		}
		return nil
	})
	// Nobody is in the room, but its stream keeps the messages.
	n.publish(t, "chat", `"b"`)
	n.publish(t, "chat", `"c"`)
	c = n.dial(t, "bob", "&resume=1")
	c.SendJSON(`{"type":"resume","rooms":{"chat":"` + seen + `"},"ref":2}`)
	c.ExpectPush(`"b"`)
	c.ExpectPush(`"c"`)
	c.ExpectJSON("ack")
	n.publish(t, "chat", `"d"`)
	c.ExpectPush(`"d"`)
}

func TestResumeTooFarBackGetsAGap(t *testing.T) {
	cfg := historyConfig()
	cfg.HistorySize = 2
	n := startNode(t, cfg, engine.Config{}, 0)
	c := n.dial(t, "carol", "")
	n.push(t, "carol", `1`)
	seen := c.ExpectPush(`1`)
	c.NC.Close()
	for _, d := range []string{`2`, `3`, `4`} {
		n.push(t, "carol", d)
	}
	c = n.dial(t, "carol", "&resume=1")
	c.SendJSON(`{"type":"resume","user_pos":"` + seen + `","ref":1}`)
	g := c.ExpectJSON("gap")
	if _, room := g["room"]; room || g["pos"] == nil {
		t.Fatalf("gap %v", g)
	}
	// Then what the history still holds after the hole: 3 and 4 (2 is
	// gone: the gap covers it), each after the gap's position.
	for _, d := range []string{`3`, `4`} {
		p, _ := history.ParsePos(c.ExpectPush(d))
		if from, _ := history.ParsePos(g["pos"].(string)); p <= from {
			t.Fatalf("push %s at %v, not after the gap's %v", d, p, from)
		}
	}
	c.ExpectJSON("ack")
	n.push(t, "carol", `5`)
	c.ExpectPush(`5`)
	if gaps := n.eng.Counters().Gaps; gaps != 1 {
		t.Fatalf("gaps counted %d", gaps)
	}
}

func TestResumeWithoutHistoryIsRefused(t *testing.T) {
	n := startNode(t, Config{}, engine.Config{}, 0)
	if n.b.Store() != nil {
		t.Fatal("a store without a history")
	}
	c := n.dial(t, "dan", "&resume=1")
	c.SendJSON(`{"type":"resume","user_pos":"1-0","ref":1}`)
	if e := c.ExpectJSON("error"); e["code"] != "no_history" {
		t.Fatalf("error %v", e)
	}
	n.push(t, "dan", `1`)
	if p := c.ExpectPush(`1`); p != "" {
		t.Fatalf("pos %q without history", p)
	}
}

func TestBadResumesGetErrors(t *testing.T) {
	n := startNode(t, historyConfig(), engine.Config{}, 0)
	c := n.dial(t, "erin", "")
	for _, req := range []string{
		`{"type":"resume","user_pos":"x","ref":1}`,
		`{"type":"resume","rooms":{"":"1-0"},"ref":2}`,
		`{"type":"resume","rooms":{"r":"1-x"},"ref":3}`,
	} {
		c.SendJSON(req)
		if e := c.ExpectJSON("error"); e["code"] != "bad_request" {
			t.Fatalf("%s: %v", req, e)
		}
	}
}

func TestOfflineGraceKeepsPresenceAfterTheLastClose(t *testing.T) {
	n := startNode(t, Config{}, engine.Config{}, time.Hour)
	presence := func(user string) (online bool, conns int) {
		t.Helper()
		p, err := n.b.Presence(context.Background(), user)
		if err != nil || p.User != user {
			t.Fatalf("presence of %s: %+v %v", user, p, err)
		}
		return p.Online, p.Connections
	}
	c := n.dial(t, "frank", "")
	if on, conns := presence("frank"); !on || conns != 1 {
		t.Fatalf("connected: online %v with %d connections", on, conns)
	}
	c.NC.Close()
	n.waitGone(t, "frank")
	if on, conns := presence("frank"); !on || conns != 0 {
		t.Fatalf("closed within the grace: online %v with %d connections", on, conns)
	}
	if on, _ := presence("nobody"); on {
		t.Fatalf("unknown user online")
	}
}

// A push that comes while a user's last connection is leaving the pool
// finds the user neither connected nor gone: the engine tells the broker
// of the leaving first (engine.TestLeavingComesWhileTheConnectionIsInThePool),
// and the broker keeps the user's messages from then on.
func TestPushToALeavingUserIsKept(t *testing.T) {
	n := startNode(t, historyConfig(), engine.Config{}, 0)
	// The oldest position the history serves without a gap: the node's
	// start (nothing before it is known).
	from := n.b.hist.Since(history.UserStream("nobody"), 0, time.Now()).Floor
	n.b.Leaving("erin") // as the engine does before taking erin's connection out
	n.push(t, "erin", `1`)
	c := n.dial(t, "erin", "&resume=1")
	c.SendJSON(`{"type":"resume","user_pos":"` + from.String() + `","ref":1}`)
	c.ExpectPush(`1`)
	c.ExpectJSON("ack")
}

package server

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/history"
)

// pushPos sends a push through s and returns nothing; the client reads it.
func pushTo(t *testing.T, s *Server, user, data string) {
	t.Helper()
	if _, err := s.Push(context.Background(), []string{user}, json.RawMessage(data)); err != nil {
		t.Fatal(err)
	}
}

func historyConfig() Config {
	return Config{HistorySize: 10, HistoryTTL: time.Minute}
}

func TestResumeReplaysMissedPushesOnceInOrderThenLive(t *testing.T) {
	s := startServer(t, historyConfig())
	c, _ := dialAs(t, s, "?user=alice", "")
	pushTo(t, s, "alice", `1`)
	seen := c.ExpectPush(`1`)
	if seen == "" {
		t.Fatal("a push carries no pos with history on")
	}
	c.NC.Close()
	waitFor(t, time.Second, func() error {
		if n := s.UserConns("alice"); n != 0 {
			return fmt.Errorf("alice has %d connections", n)
		}
		return nil
	})
	pushTo(t, s, "alice", `2`)
	pushTo(t, s, "alice", `3`)

	c, _ = dialAs(t, s, "?user=alice&resume=1", "")
	pushTo(t, s, "alice", `4`) // before the resume: held, then replayed
	c.SendJSON(`{"type":"resume","user_pos":"` + seen + `","ref":1}`)
	c.ExpectPush(`2`)
	c.ExpectPush(`3`)
	last := c.ExpectPush(`4`)
	c.ExpectJSON("ack")
	pushTo(t, s, "alice", `5`)
	if p := c.ExpectPush(`5`); p <= last {
		t.Fatalf("pos %s after %s", p, last)
	}
}

func TestResumeJoinsRoomsAndReplaysThem(t *testing.T) {
	s := startServer(t, historyConfig())
	c, _ := dialAs(t, s, "?user=bob", "")
	c.SendJSON(`{"type":"join","room":"chat","ref":1}`)
	c.ExpectJSON("ack")
	if _, err := s.Publish(context.Background(), "chat", json.RawMessage(`"a"`)); err != nil {
		t.Fatal(err)
	}
	seen := c.ExpectPush(`"a"`)
	c.NC.Close()
	waitFor(t, time.Second, func() error {
		if s.eng.HasRoom("chat") {
			return fmt.Errorf("chat still has members")
		}
		return nil
	})
	// Nobody is in the room, but its stream keeps the messages.
	for _, d := range []string{`"b"`, `"c"`} {
		if _, err := s.Publish(context.Background(), "chat", json.RawMessage(d)); err != nil {
			t.Fatal(err)
		}
	}
	c, _ = dialAs(t, s, "?user=bob&resume=1", "")
	c.SendJSON(`{"type":"resume","rooms":{"chat":"` + seen + `"},"ref":2}`)
	c.ExpectPush(`"b"`)
	c.ExpectPush(`"c"`)
	c.ExpectJSON("ack")
	if _, err := s.Publish(context.Background(), "chat", json.RawMessage(`"d"`)); err != nil {
		t.Fatal(err)
	}
	c.ExpectPush(`"d"`)
}

func TestResumeTooFarBackGetsAGap(t *testing.T) {
	cfg := historyConfig()
	cfg.HistorySize = 2
	s := startServer(t, cfg)
	c, _ := dialAs(t, s, "?user=carol", "")
	pushTo(t, s, "carol", `1`)
	seen := c.ExpectPush(`1`)
	c.NC.Close()
	for _, d := range []string{`2`, `3`, `4`} {
		pushTo(t, s, "carol", d)
	}
	c, _ = dialAs(t, s, "?user=carol&resume=1", "")
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
	pushTo(t, s, "carol", `5`)
	c.ExpectPush(`5`)
	if s.eng.Counters().Gaps != 1 {
		t.Fatalf("gaps counted %d", s.eng.Counters().Gaps)
	}
}

func TestResumeWithoutHistoryIsRefused(t *testing.T) {
	s := startServer(t, Config{})
	c, _ := dialAs(t, s, "?user=dan&resume=1", "")
	c.SendJSON(`{"type":"resume","user_pos":"1-0","ref":1}`)
	if e := c.ExpectJSON("error"); e["code"] != "no_history" {
		t.Fatalf("error %v", e)
	}
	pushTo(t, s, "dan", `1`)
	if p := c.ExpectPush(`1`); p != "" {
		t.Fatalf("pos %q without history", p)
	}
}

func TestBadResumesGetErrors(t *testing.T) {
	s := startServer(t, historyConfig())
	c, _ := dialAs(t, s, "?user=erin", "")
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
	s := startServer(t, Config{OfflineGrace: time.Hour})
	c, _ := dialAs(t, s, "?user=frank", "")
	if p := s.Presence(context.Background(), "frank"); !p.Online || p.Connections != 1 {
		t.Fatalf("connected: %+v", p)
	}
	c.NC.Close()
	waitFor(t, time.Second, func() error {
		if n := s.UserConns("frank"); n != 0 {
			return fmt.Errorf("%d connections", n)
		}
		return nil
	})
	if p := s.Presence(context.Background(), "frank"); !p.Online || p.Connections != 0 {
		t.Fatalf("closed within the grace: %+v", p)
	}
	if p := s.Presence(context.Background(), "nobody"); p.Online {
		t.Fatalf("unknown user online")
	}
}

// A push that comes while a user's last connection is leaving the pool
// finds the user neither connected nor gone: the engine tells the facade
// of the leaving first (engine.TestLeavingComesWhileTheConnectionIsInThePool),
// and the facade keeps the user's messages from then on.
func TestPushToALeavingUserIsKept(t *testing.T) {
	s := startServer(t, historyConfig())
	hooks{s}.Leaving("erin") // as the engine does before taking erin's connection out
	pushTo(t, s, "erin", `1`)
	c, _ := dialAs(t, s, "?user=erin&resume=1", "")
	c.SendJSON(`{"type":"resume","user_pos":"` + history.MakePos(s.start.UnixMilli(), 0).String() + `","ref":1}`)
	c.ExpectPush(`1`)
	c.ExpectJSON("ack")
}

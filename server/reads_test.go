package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/server/internal/wire"
)

// resumeReplay connects user to s with ?resume=1, sends resume (the
// request's JSON, without its ref) and returns the frames the replay
// carried before the ack, as the client received them.
func resumeReplay(t *testing.T, s *Server, user, resume string) []string {
	t.Helper()
	c := dial(t, s)
	c.Write([]byte(upgradeRequest("/ws?user=" + user + "&resume=1")))
	c.ExpectStatus(http.StatusSwitchingProtocols)
	c.ExpectJSON("welcome")
	c.SendJSON(strings.TrimSuffix(resume, "}") + `,"ref":"r1"}`)
	var got []string
	for {
		h, p := c.Read()
		if h.OpCode == ws.OpPing {
			continue
		}
		if strings.HasPrefix(string(p), `{"type":"ack"`) {
			return got
		}
		got = append(got, string(p))
	}
}

// historyOf reads a history page through the API handler h.
func historyOf(t *testing.T, h http.Handler, path string) wire.HistoryPage {
	t.Helper()
	status, _, body := callAPI(t, h, "GET", path, "")
	var page wire.HistoryPage
	if status != 200 || json.Unmarshal([]byte(body), &page) != nil {
		t.Fatalf("GET %s: %d %s", path, status, body)
	}
	return page
}

func rawStrings(ms []json.RawMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m)
	}
	return out
}

// checkHistoryMatchesResume pushes five messages to alice and publishes
// three to room r through send, then compares what the API's history
// reads answer on h with what real resumes on s replay: the same frames,
// byte for byte, pos included, and pages that go on from one another.
func checkHistoryMatchesResume(t *testing.T, send, s *Server, h http.Handler, wait func()) {
	t.Helper()
	ctx := context.Background()
	live := apiDialUser(t, s, "alice")
	wait()
	var pos []string
	for i := 1; i <= 5; i++ {
		if _, err := send.Push(ctx, []string{"alice"}, json.RawMessage(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		pos = append(pos, live.ExpectPush(strconv.Itoa(i)))
	}
	var rpos []string
	for i := 1; i <= 3; i++ {
		if _, err := send.Publish(ctx, "r", json.RawMessage(`"r`+strconv.Itoa(i)+`"`)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, func() error {
		if p := historyOf(t, h, "/v1/rooms/r/history"); len(p.Messages) != 3 {
			return errorf("room r holds %d messages", len(p.Messages))
		}
		return nil
	})
	for _, m := range historyOf(t, h, "/v1/rooms/r/history").Messages {
		var e struct{ Pos string }
		_ = json.Unmarshal(m, &e)
		rpos = append(rpos, e.Pos)
	}

	// The user stream after the second message.
	page := historyOf(t, h, "/v1/users/alice/history?since="+pos[1])
	replay := resumeReplay(t, s, "alice", `{"type":"resume","user_pos":"`+pos[1]+`"}`)
	if got := rawStrings(page.Messages); len(got) != 3 || strings.Join(got, "\n") != strings.Join(replay, "\n") {
		t.Fatalf("history after %s:\n%s\nresume replayed:\n%s", pos[1], strings.Join(got, "\n"), strings.Join(replay, "\n"))
	}
	if page.Gap || page.More || page.Last != pos[4] || page.User != "alice" {
		t.Errorf("page %+v, want no gap, no more, last %s", page, pos[4])
	}
	// Paged by two: the pages put together are the replay.
	p1 := historyOf(t, h, "/v1/users/alice/history?limit=2&since="+pos[1])
	if !p1.More || p1.Last != pos[3] || len(p1.Messages) != 2 {
		t.Fatalf("first page %+v", p1)
	}
	p2 := historyOf(t, h, "/v1/users/alice/history?limit=2&since="+p1.Last)
	if p2.More || len(p2.Messages) != 1 || strings.Join(append(rawStrings(p1.Messages), rawStrings(p2.Messages)...), "\n") != strings.Join(replay, "\n") {
		t.Fatalf("pages %+v %+v", p1, p2)
	}
	// Nothing after the last: empty, and no more.
	if p := historyOf(t, h, "/v1/users/alice/history?since="+pos[4]); len(p.Messages) != 0 || p.More || p.Last != pos[4] {
		t.Errorf("after the last: %+v", p)
	}

	// The room stream after its first message, as a resume that asks
	// for the room alone replays it.
	page = historyOf(t, h, "/v1/rooms/r/history?since="+rpos[0])
	replay = resumeReplay(t, s, "alice", `{"type":"resume","rooms":{"r":"`+rpos[0]+`"}}`)
	if got := rawStrings(page.Messages); len(got) != 2 || strings.Join(got, "\n") != strings.Join(replay, "\n") {
		t.Fatalf("room history after %s:\n%s\nresume replayed:\n%s", rpos[0], strings.Join(got, "\n"), strings.Join(replay, "\n"))
	}
	if page.Room != "r" || page.User != "" {
		t.Errorf("room page names %q %q", page.User, page.Room)
	}
}

func TestHistoryAPIMatchesAResume(t *testing.T) {
	s := startServer(t, historyConfig())
	checkHistoryMatchesResume(t, s, s, s.APIHandler(), func() {})
}

// In a cluster: pushed through a, read through b's API, resumed on b.
func TestClusterHistoryAPIMatchesAResume(t *testing.T) {
	r, a, b := startPair(t)
	checkHistoryMatchesResume(t, a, b, b.APIHandler(), func() { r.waitSubs("wspush:u:alice", 1) })
}

// A resume from before what the history holds gets a gap first; the API
// says gap, from where, and the messages kept after it: the same.
func TestHistoryAPIGapMatchesAResume(t *testing.T) {
	cfg := historyConfig()
	cfg.HistorySize = 3
	s := startServer(t, cfg)
	live := apiDialUser(t, s, "bob")
	var pos []string
	for i := 1; i <= 6; i++ {
		pushTo(t, s, "bob", strconv.Itoa(i))
		pos = append(pos, live.ExpectPush(strconv.Itoa(i)))
	}
	page := historyOf(t, s.APIHandler(), "/v1/users/bob/history?since="+pos[0])
	replay := resumeReplay(t, s, "bob", `{"type":"resume","user_pos":"`+pos[0]+`"}`)
	if len(replay) != 4 || !strings.HasPrefix(replay[0], `{"type":"gap"`) {
		t.Fatalf("the resume replayed %q, want a gap and three messages", replay)
	}
	var gap struct{ Pos string }
	_ = json.Unmarshal([]byte(replay[0]), &gap)
	if !page.Gap || page.From != gap.Pos || strings.Join(rawStrings(page.Messages), "\n") != strings.Join(replay[1:], "\n") {
		t.Fatalf("history %+v, resume %q", page, replay)
	}
}

func TestHistoryAPIWithoutHistoryIs404(t *testing.T) {
	s := startServer(t, Config{})
	status, _, body := callAPI(t, s.APIHandler(), "GET", "/v1/users/alice/history", "")
	if status != 404 || !strings.Contains(body, `"no_history"`) {
		t.Fatalf("%d %s", status, body)
	}
}

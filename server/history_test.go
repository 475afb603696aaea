package server

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// The single node's history is the local broker's, and its tests are
// there (internal/local/history_test.go); here the server only shows
// that it wires that history into the engine's resumes.

// pushTo sends a push through s; the client reads it.
func pushTo(t *testing.T, s *Server, user, data string) {
	t.Helper()
	if _, err := s.Push(context.Background(), []string{user}, json.RawMessage(data)); err != nil {
		t.Fatal(err)
	}
}

func historyConfig() Config {
	return Config{HistorySize: 10, HistoryTTL: time.Minute}
}

func TestServerResumeReadsTheBrokersHistory(t *testing.T) {
	s := startServer(t, historyConfig())
	c := apiDialUser(t, s, "alice")
	pushTo(t, s, "alice", `1`)
	seen := c.ExpectPush(`1`)
	c.NC.Close()
	waitFor(t, time.Second, func() error {
		if s.UserConns("alice") != 0 {
			return errTooEarly
		}
		return nil
	})
	pushTo(t, s, "alice", `2`)
	c = dial(t, s)
	c.Write([]byte(upgradeRequest("/ws?user=alice&resume=1")))
	c.ExpectStatus(http.StatusSwitchingProtocols)
	c.ExpectJSON("welcome")
	c.SendJSON(`{"type":"resume","user_pos":"` + seen + `","ref":1}`)
	c.ExpectPush(`2`)
	c.ExpectJSON("ack")
}

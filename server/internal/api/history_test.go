package api

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/wire"
)

// History answers what the fake's err says, or a page that names what it
// was asked.
func (f *fakeBackend) History(_ context.Context, user, room string, since history.Pos, limit int) (wire.HistoryPage, error) {
	f.calls = append(f.calls, fmt.Sprintf("history %s %s %s %d", user, room, since, limit))
	return wire.HistoryPage{User: user, Room: room, Messages: []json.RawMessage{}}, f.err
}

func TestHistoryCalls(t *testing.T) {
	f := &fakeBackend{}
	h := New(Config{}, f)
	for _, c := range []struct {
		path   string
		status int
		call   string
	}{
		{"/v1/users/alice/history", 200, "history alice  0-0 100"},
		{"/v1/users/alice/history?since=1700000000000-3&limit=5", 200, "history alice  1700000000000-3 5"},
		{"/v1/rooms/r/history?since=12&limit=1000", 200, "history  r 12-0 1000"},
		{"/v1/rooms/r/history?since=x", 400, ""},
		{"/v1/rooms/r/history?limit=0", 400, ""},
		{"/v1/rooms/r/history?limit=1001", 400, ""},
		{"/v1/users/%01/history", 400, ""},
	} {
		f.calls = nil
		w := call(t, h, "GET", c.path, "", "")
		if w.Code != c.status || c.call != "" && (len(f.calls) != 1 || f.calls[0] != c.call) {
			t.Errorf("%s: %d %s, calls %q; want %d %q", c.path, w.Code, w.Body, f.calls, c.status, c.call)
		}
	}
	f.err = wire.ErrNoHistory
	w := call(t, h, "GET", "/v1/users/alice/history", "", "")
	var e wire.Error
	if w.Code != 404 || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error != "no_history" || e.Message == "" {
		t.Errorf("without history: %d %s", w.Code, w.Body)
	}
	f.err = fmt.Errorf("x: %w", wire.ErrUnavailable)
	if w := call(t, h, "GET", "/v1/rooms/r/history", "", ""); w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Errorf("redis down: %d %s", w.Code, w.Body)
	}
}

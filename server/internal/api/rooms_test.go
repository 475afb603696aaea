package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wspush/wspush/server/internal/wire"
)

// fakeUsers is the fake's room: users a to e.
var fakeUsers = []string{"a", "b", "c", "d", "e"}

// RoomMembers pages through fakeUsers as a backend does.
func (f *fakeBackend) RoomMembers(_ context.Context, room, after string, limit int) (wire.RoomPage, error) {
	f.calls = append(f.calls, "members "+room+" after "+after)
	var page []string
	for _, u := range fakeUsers {
		if u > after {
			page = append(page, u)
		}
	}
	pg := wire.RoomPage{Room: room, Users: len(fakeUsers), Members: page[:min(limit, len(page))]}
	if len(page) > limit {
		pg.Next = page[limit-1]
	}
	return pg, f.err
}

func (f *fakeBackend) RoomList(_ context.Context, after string, limit int) (wire.RoomsPage, error) {
	f.calls = append(f.calls, "rooms after "+after)
	return wire.RoomsPage{Rooms: []wire.RoomCount{{Room: "r", Users: 5}}}, f.err
}

// The cursor a page hands out is opaque and leads to the next page; one
// the API did not hand out is refused.
func TestRoomPagesFollowTheirCursors(t *testing.T) {
	f := &fakeBackend{}
	h := New(Config{}, f)
	var got []string
	path := "/v1/rooms/chat?limit=2"
	for pages := 0; pages < 10; pages++ {
		w := call(t, h, "GET", path, "", "")
		var pg struct {
			Room    string   `json:"room"`
			Users   int      `json:"users"`
			Members []string `json:"members"`
			Cursor  string   `json:"cursor"`
		}
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &pg) != nil || pg.Room != "chat" || pg.Users != 5 {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		got = append(got, pg.Members...)
		if pg.Cursor == "" {
			break
		}
		path = "/v1/rooms/chat?limit=2&cursor=" + pg.Cursor
	}
	if strings.Join(got, "") != "abcde" {
		t.Fatalf("pages gave %q", got)
	}
	for _, bad := range []string{"/v1/rooms/chat?cursor=**", "/v1/rooms/chat?cursor=AA", "/v1/rooms?cursor=*", "/v1/rooms?limit=x", "/v1/rooms/%01"} {
		var e wire.Error
		if w := call(t, h, "GET", bad, "", ""); w.Code != 400 || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Message == "" {
			t.Errorf("%s: %d %s, want 400 with a reason", bad, w.Code, w.Body)
		}
	}
	w := call(t, h, "GET", "/v1/rooms", "", "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"rooms":[{"room":"r","users":5}]`) || strings.Contains(w.Body.String(), "cursor") {
		t.Errorf("rooms: %d %s", w.Code, w.Body)
	}
	f.err = wire.ErrUnavailable
	if w := call(t, h, "GET", "/v1/rooms/chat", "", ""); w.Code != 503 {
		t.Errorf("redis down: %d", w.Code)
	}
}

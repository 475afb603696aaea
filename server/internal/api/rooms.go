package api

import (
	"context"
	"encoding/base64"
	"net/http"

	"github.com/wspush/wspush/server/internal/auth"
	"github.com/wspush/wspush/server/internal/wire"
)

// Room reads: who is in a room, and which rooms have users, cluster-wide,
// in pages that go on from an opaque cursor (docs/api.md).

// Roomer is the Backend's door for room reads.
type Roomer interface {
	// RoomMembers returns up to limit users of room after the name
	// after ("" from the first), in name order, and the room's count.
	RoomMembers(ctx context.Context, room, after string, limit int) (wire.RoomPage, error)
	// RoomList returns up to limit rooms after the name after, with
	// their counts.
	RoomList(ctx context.Context, after string, limit int) (wire.RoomsPage, error)
}

// cursor reads ?cursor=, the opaque form of the last name of the page
// before, and answers 400 when it is not one this API handed out.
func cursor(w http.ResponseWriter, r *http.Request) (string, bool) {
	c := r.URL.Query().Get("cursor")
	if c == "" {
		return "", true
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !auth.ValidName(string(b)) {
		writeError(w, http.StatusBadRequest, "bad_request", "cursor: not a cursor this API handed out")
		return "", false
	}
	return string(b), true
}

// nextCursor is the opaque cursor of a page that ends at name; "" for a
// last page.
func nextCursor(name string) string {
	if name == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(name))
}

// GET /v1/rooms/{room}?limit=N&cursor=C
func (a *handler) room(w http.ResponseWriter, r *http.Request) {
	room, ok := pathName(w, r, "room")
	if !ok {
		return
	}
	limit, ok := pageLimit(w, r)
	if !ok {
		return
	}
	after, ok := cursor(w, r)
	if !ok {
		return
	}
	ctx, cancel := loopsCtx(r)
	defer cancel()
	pg, err := a.b.RoomMembers(ctx, room, after, limit)
	if err != nil {
		a.loopsFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		wire.RoomPage
		Cursor string `json:"cursor,omitempty"`
	}{pg, nextCursor(pg.Next)})
}

// GET /v1/rooms?limit=N&cursor=C
func (a *handler) rooms(w http.ResponseWriter, r *http.Request) {
	limit, ok := pageLimit(w, r)
	if !ok {
		return
	}
	after, ok := cursor(w, r)
	if !ok {
		return
	}
	ctx, cancel := loopsCtx(r)
	defer cancel()
	pg, err := a.b.RoomList(ctx, after, limit)
	if err != nil {
		a.loopsFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		wire.RoomsPage
		Cursor string `json:"cursor,omitempty"`
	}{pg, nextCursor(pg.Next)})
}

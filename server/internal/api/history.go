package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/wire"
)

// History reads: what a client's resume would replay of a user's or a
// room's stream (docs/protocol.md#recovery), for the backend.

// Page sizes of the API's reads.
const (
	// DefaultPageLimit is a page's size when ?limit= is absent.
	DefaultPageLimit = 100
	// MaxPageLimit caps ?limit=.
	MaxPageLimit = 1000
)

// Historian is the Backend's door for history reads.
type Historian interface {
	// History reads user's stream (room empty) or room's after
	// position since (0: from the oldest kept), at most limit messages,
	// as a resume would replay them. wire.ErrNoHistory says the server
	// keeps none.
	History(ctx context.Context, user, room string, since history.Pos, limit int) (wire.HistoryPage, error)
}

// GET /v1/users/{user}/history?since=POS&limit=N
func (a *handler) userHistory(w http.ResponseWriter, r *http.Request) {
	user, ok := pathName(w, r, "user")
	if ok {
		a.history(w, r, user, "")
	}
}

// GET /v1/rooms/{room}/history?since=POS&limit=N
func (a *handler) roomHistory(w http.ResponseWriter, r *http.Request) {
	room, ok := pathName(w, r, "room")
	if ok {
		a.history(w, r, "", room)
	}
}

func (a *handler) history(w http.ResponseWriter, r *http.Request, user, room string) {
	limit, ok := pageLimit(w, r)
	if !ok {
		return
	}
	var since history.Pos
	if s := r.URL.Query().Get("since"); s != "" {
		p, err := history.ParsePos(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "since: "+err.Error())
			return
		}
		since = p
	}
	ctx, cancel := loopsCtx(r)
	defer cancel()
	page, err := a.b.History(ctx, user, room, since, limit)
	switch {
	case errors.Is(err, wire.ErrNoHistory):
		writeError(w, http.StatusNotFound, "no_history", err.Error())
		return
	case err != nil:
		a.loopsFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// pageLimit reads ?limit=, 1 to MaxPageLimit, DefaultPageLimit when
// absent; it answers 400 and returns false when it is anything else.
func pageLimit(w http.ResponseWriter, r *http.Request) (int, bool) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return DefaultPageLimit, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxPageLimit {
		writeError(w, http.StatusBadRequest, "bad_request", "limit: a number from 1 to "+strconv.Itoa(MaxPageLimit))
		return 0, false
	}
	return n, true
}

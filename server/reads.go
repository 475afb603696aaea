package server

import (
	"context"
	"encoding/json"

	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/wire"
)

// Reads for the backend: a stream's history as a resume would replay it.

// HistoryPage is what History answers.
type HistoryPage = wire.HistoryPage

// ErrNoHistory is History's error on a server that keeps none.
var ErrNoHistory = wire.ErrNoHistory

// History reads user's stream, or room's when room is set, after position
// since (0: from the oldest kept): the push envelopes a client's resume
// from since would replay, oldest first, at most limit of them, each as
// its live frame carried it. In a cluster it reads Redis (ErrUnavailable
// when Redis does not answer).
func (s *Server) History(ctx context.Context, user, room string, since history.Pos, limit int) (HistoryPage, error) {
	if room != "" {
		user = ""
	}
	res, err := s.b.ReadHistory(ctx, user, history.Want{Room: room, After: since})
	if err != nil {
		return HistoryPage{}, err
	}
	page := HistoryPage{User: user, Room: room, Messages: make([]json.RawMessage, 0, min(len(res.Entries), limit)), Gap: res.Gap}
	if res.Gap && res.From != 0 {
		page.From = res.From.String()
	}
	entries, last := res.Entries, res.Last
	if len(entries) > limit {
		entries, page.More = entries[:limit], true
		last = entries[limit-1].Pos
	}
	if last != 0 {
		page.Last = last.String()
	}
	for _, e := range entries {
		if p := wire.FramePayload(e.Frame); p != nil {
			page.Messages = append(page.Messages, p)
		}
	}
	return page, nil
}

func (b backend) History(ctx context.Context, user, room string, since history.Pos, limit int) (wire.HistoryPage, error) {
	return b.s.History(ctx, user, room, since, limit)
}

// RoomPage is what RoomMembers answers.
type RoomPage = wire.RoomPage

// RoomsPage is what RoomList answers.
type RoomsPage = wire.RoomsPage

// RoomMembers returns up to limit users of room whose names sort after
// after ("" from the first), in name order, and the room's user count:
// on one node from the engine's roster, in a cluster from what every node
// alive keeps in Redis (ErrUnavailable when Redis does not answer). A
// page costs a descent and the page, whatever the room's size. Next, when
// set, is where the next page starts.
func (s *Server) RoomMembers(ctx context.Context, room, after string, limit int) (RoomPage, error) {
	return s.b.RoomMembers(ctx, room, after, limit)
}

// RoomList returns up to limit rooms with users whose names sort after
// after, in name order, with their user counts, as RoomMembers.
func (s *Server) RoomList(ctx context.Context, after string, limit int) (RoomsPage, error) {
	return s.b.RoomList(ctx, after, limit)
}

func (b backend) RoomMembers(ctx context.Context, room, after string, limit int) (wire.RoomPage, error) {
	return b.s.RoomMembers(ctx, room, after, limit)
}

func (b backend) RoomList(ctx context.Context, after string, limit int) (wire.RoomsPage, error) {
	return b.s.RoomList(ctx, after, limit)
}

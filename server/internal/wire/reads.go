package wire

import (
	"encoding/json"
	"errors"
)

// The answers of the API's reads: history, rooms (docs/api.md).

// ErrNoHistory is returned by a history read on a server that keeps none
// (--history-size, --history-ttl); the HTTP API answers 404.
var ErrNoHistory = errors.New("this server keeps no history (--history-size, --history-ttl)")

// HistoryPage is the answer of GET /v1/users/{user}/history and GET
// /v1/rooms/{room}/history: what a resume from Since would replay of the
// stream, oldest first, at most the limit asked for.
type HistoryPage struct {
	User string `json:"user,omitempty"`
	Room string `json:"room,omitempty"`
	// Messages are the push envelopes as their live frames carried
	// them, "pos" included.
	Messages []json.RawMessage `json:"messages"`
	// Gap says that messages after Since may be gone: the stream holds
	// nothing older than From, and Messages start after it, as a
	// resume's gap notice says.
	Gap  bool   `json:"gap"`
	From string `json:"from,omitempty"`
	// Last is the position the page covers up to: the next page, or a
	// resume, goes on from it.
	Last string `json:"last,omitempty"`
	// More says the limit cut the page: read on from Last.
	More bool `json:"more"`
}

// RoomPage is the answer of GET /v1/rooms/{room}: the room's user count
// and a page of its users, in name order. Next, when set, is the last
// user of the page: the next page starts after it (the API hands it out
// as an opaque cursor).
type RoomPage struct {
	Room    string   `json:"room"`
	Users   int      `json:"users"`
	Members []string `json:"members"`
	Next    string   `json:"-"`
}

// RoomCount is a room and its user count.
type RoomCount struct {
	Room  string `json:"room"`
	Users int    `json:"users"`
}

// RoomsPage is the answer of GET /v1/rooms: a page of the rooms with
// users, in name order, with their counts. Next as in RoomPage.
type RoomsPage struct {
	Rooms []RoomCount `json:"rooms"`
	Next  string      `json:"-"`
}

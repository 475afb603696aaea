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

package wire

import (
	"errors"
	"time"
)

// Delivery receipts (docs/api.md, "Receipts"): a push may ask each of its
// users to acknowledge it; the server then knows, per user, whether it was
// received, is pending, or was not received in time.

// The states of one user's receipt.
const (
	// ReceiptPending: no acknowledgement yet, the timeout not passed.
	ReceiptPending = "pending"
	// ReceiptReceived: a connection of the user acknowledged the message.
	ReceiptReceived = "received"
	// ReceiptUndelivered: the timeout passed without an acknowledgement
	// (the user offline at the call included); the webhook was told.
	ReceiptUndelivered = "undelivered"
)

var (
	// ErrReceiptsFull: the pending receipts are at their cap
	// (--max-receipts). Nothing was sent; the API answers 503 with
	// Retry-After, as receipts resolve in at most their timeout.
	ErrReceiptsFull = errors.New("too many receipts are pending (--max-receipts): nothing was sent")
	// ErrNoReceipt: no receipt is kept under that id (never asked for,
	// or its keep time passed).
	ErrNoReceipt = errors.New("no receipt is kept for this message")
)

// ReceiptData returns data followed by ,"receipt":"KEY", in a new
// slice: what a push that asks for a receipt carries as its data, so that
// the client sees "receipt":"KEY" in the envelope (docs/protocol.md) and
// acknowledges with that key. The brokers copy a message's data into the
// envelope as is, between ,"data": and ,"ts":, so the key rides with the
// data through every broker, the cluster's Redis script and the history
// alike: no broker needs to know of receipts. key is the receipt's
// (NewReceiptKey): printable ASCII, no quote to escape.
func ReceiptData(data []byte, key string) []byte {
	b := make([]byte, 0, len(data)+len(key)+14)
	b = append(b, data...)
	b = append(b, `,"receipt":"`...)
	b = append(b, key...)
	return append(b, '"')
}

// Receipt is the answer of GET /v1/messages/{id}: the message's receipt,
// per user, and how many users are in each state.
type Receipt struct {
	ID string `json:"id"`
	// Deadline is when a pending receipt becomes undelivered, Unix ms.
	Deadline    int64         `json:"deadline"`
	Pending     int           `json:"pending"`
	Received    int           `json:"received"`
	Undelivered int           `json:"undelivered"`
	Users       []UserReceipt `json:"users"`
}

// UserReceipt is one user's receipt of a message. At is when it was
// acknowledged (received) or given up (undelivered), Unix ms; zero while
// pending.
type UserReceipt struct {
	User  string `json:"user"`
	State string `json:"state"`
	At    int64  `json:"at,omitempty"`
}

// Count fills r's Pending, Received and Undelivered from its Users.
func (r *Receipt) Count() {
	r.Pending, r.Received, r.Undelivered = 0, 0, 0
	for _, u := range r.Users {
		switch u.State {
		case ReceiptPending:
			r.Pending++
		case ReceiptReceived:
			r.Received++
		default:
			r.Undelivered++
		}
	}
}

// ReceiptStart is one push's request for receipts: its id, its users
// (distinct), its data as the backend sent it, the timeout within which
// each user must acknowledge it, and its key: the unguessable name the
// envelope carries and the clients acknowledge, so that only a client
// that got the push can (an id may be the backend's, and guessable).
// Begin sets Key to the receipts' own when they exist already (a retry).
type ReceiptStart struct {
	ID      string
	Key     string
	Users   []string
	Data    []byte
	Timeout time.Duration
}

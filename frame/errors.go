package frame

import (
	"errors"

	"github.com/gobwas/ws"
)

// Errors a Reader returns. Each fails the connection with the close code
// that CloseCode gives.
var (
	ErrTooLarge      = errors.New("frame: message too large")
	ErrInvalidUTF8   = errors.New("frame: invalid UTF-8 in text message")
	ErrCloseLength   = errors.New("frame: close payload of one byte")
	ErrCloseCode     = errors.New("frame: invalid close code")
	ErrCloseUTF8     = errors.New("frame: invalid UTF-8 in close reason")
	ErrReservedBits  = errors.New("frame: reserved bits set without an extension")
	ErrNotMasked     = errors.New("frame: client frame not masked")
	ErrControlLength = errors.New("frame: control frame payload over 125 bytes")
	// permessage-deflate (RFC 7692)
	ErrCompressionBit = errors.New("frame: RSV1 set on a control frame or a continuation frame")
	ErrInflate        = errors.New("frame: compressed message does not inflate")
	// ErrTooManyFragments is the caller's to return: a message in more
	// frames than it allows (Reader.Fragments).
	ErrTooManyFragments = errors.New("frame: message in too many fragments")
)

// CloseCode maps an error from this package, or a ws.ProtocolError from
// github.com/gobwas/ws, to the status code that fails the connection.
func CloseCode(err error) ws.StatusCode {
	switch {
	case errors.Is(err, ErrTooLarge), errors.Is(err, ErrTooManyFragments):
		// RFC 6455 7.4.1: 1009 means a message is too big to process.
		return ws.StatusMessageTooBig
	case errors.Is(err, ErrInvalidUTF8), errors.Is(err, ErrCloseUTF8), errors.Is(err, ErrInflate):
		// RFC 6455 8.1: invalid UTF-8 in text fails the connection with
		// 1007, data inconsistent with the type of the message; so does a
		// compressed message that does not inflate.
		return ws.StatusInvalidFramePayloadData
	default:
		return ws.StatusProtocolError
	}
}

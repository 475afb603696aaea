package wire

import (
	"strconv"
	"time"

	"github.com/gobwas/ws"

	"github.com/wspush/wspush/frame"
)

// Disconnect is why the server closes a connection on purpose. It goes to
// the client twice: as a {"type":"disconnect"} text message, because
// mini-programs do not reliably report close codes, and as the close
// frame that follows it.
//
// The code decides what the client does next: 4000-4499 reconnect with
// backoff, 4500-4999 do not reconnect. Disconnects is the one table that
// docs/protocol.md and the JavaScript SDK (client/) mirror; tests check
// that they agree.
type Disconnect struct {
	Code      int           `json:"code"`
	Name      string        `json:"name"`
	Reason    string        `json:"reason"`
	Reconnect bool          `json:"reconnect"`
	Close     ws.StatusCode `json:"close"` // the close frame's code
}

// The disconnects the server sends.
var (
	DisconnectGoingAway     = Disconnect{4000, "going_away", "server shutting down", true, ws.StatusGoingAway}
	DisconnectIdle          = Disconnect{4001, "idle_timeout", "idle timeout", true, ws.StatusGoingAway}
	DisconnectSlow          = Disconnect{4002, "slow_consumer", "too slow to read its messages", true, 4002}
	DisconnectTokenExpired  = Disconnect{4003, "token_expired", "token expired: reconnect with a new token", true, 4003}
	DisconnectRateLimited   = Disconnect{4004, "rate_limited", "too many requests", true, 4004}
	DisconnectMessageTooBig = Disconnect{4005, "message_too_big", "message too big", true, ws.StatusMessageTooBig}
	DisconnectUnadmitted    = Disconnect{4006, "connect_unavailable", "the server cannot admit connections now: retry later", true, 4006}
	DisconnectKicked        = Disconnect{4500, "kicked", "disconnected by the server", false, 4500}
	DisconnectProtocol      = Disconnect{4501, "protocol_error", "protocol error", false, ws.StatusProtocolError}
	DisconnectInvalidUTF8   = Disconnect{4502, "invalid_utf8", "invalid UTF-8 in a text message", false, ws.StatusInvalidFramePayloadData}
	DisconnectUnauthorized  = Disconnect{4503, "unauthorized", "invalid token: do not retry with this token", false, 4503}
	DisconnectReplaced      = Disconnect{4504, "replaced", "too many connections for this user: the oldest was closed", false, 4504}
	DisconnectRefused       = Disconnect{4505, "refused", "the backend refused the connection", false, 4505}
)

// Disconnects lists every Disconnect, in code order.
var Disconnects = []Disconnect{
	DisconnectGoingAway, DisconnectIdle, DisconnectSlow, DisconnectTokenExpired,
	DisconnectRateLimited, DisconnectMessageTooBig, DisconnectUnadmitted,
	DisconnectKicked, DisconnectProtocol, DisconnectInvalidUTF8, DisconnectUnauthorized, DisconnectReplaced, DisconnectRefused,
}

// AppendDisconnect appends the disconnect message and the close frame for
// d, in that order, so that one write sends both:
// {"type":"disconnect","code":C,"reason":R,"reconnect":B[,"retry_after":MS]}.
// detail, when not empty, replaces the table's reason (the exact protocol
// error, say); retryAfter, when positive, asks the client to wait that long
// before it reconnects. Without protocol (echo mode) only the close frame
// is appended.
func AppendDisconnect(dst []byte, d Disconnect, detail string, protocol bool, retryAfter time.Duration) []byte {
	reason := d.Reason
	if detail != "" {
		reason = detail
	}
	if protocol {
		var buf [256]byte
		b := append(buf[:0], `{"type":"disconnect","code":`...)
		b = strconv.AppendInt(b, int64(d.Code), 10)
		b = append(b, `,"reason":`...)
		b = AppendString(b, reason)
		b = append(b, `,"reconnect":`...)
		b = strconv.AppendBool(b, d.Reconnect)
		if ms := retryAfter.Milliseconds(); ms > 0 {
			b = append(b, `,"retry_after":`...)
			b = strconv.AppendInt(b, ms, 10)
		}
		b = append(b, '}')
		dst = frame.AppendFrame(dst, ws.OpText, b)
	}
	return frame.AppendClose(dst, d.Close, reason)
}

// DisconnectFor maps a frame error's close code to its Disconnect.
func DisconnectFor(code ws.StatusCode) Disconnect {
	switch code {
	case ws.StatusMessageTooBig:
		return DisconnectMessageTooBig
	case ws.StatusInvalidFramePayloadData:
		return DisconnectInvalidUTF8
	}
	return DisconnectProtocol
}

// ReasonFor maps a Disconnect to the CloseReason recorded for it.
func ReasonFor(d Disconnect) CloseReason {
	switch d.Code {
	case DisconnectGoingAway.Code:
		return ReasonShutdown
	case DisconnectIdle.Code:
		return ReasonIdleTimeout
	case DisconnectSlow.Code:
		return ReasonSlowConsumer
	case DisconnectTokenExpired.Code:
		return ReasonTokenExpired
	case DisconnectRateLimited.Code:
		return ReasonRateLimited
	case DisconnectMessageTooBig.Code:
		return ReasonTooLarge
	case DisconnectKicked.Code:
		return ReasonKicked
	case DisconnectInvalidUTF8.Code:
		return ReasonInvalidUTF8
	case DisconnectUnauthorized.Code:
		return ReasonUnauthorized
	case DisconnectReplaced.Code:
		return ReasonReplaced
	case DisconnectUnadmitted.Code:
		return ReasonUnadmitted
	case DisconnectRefused.Code:
		return ReasonRefused
	}
	return ReasonProtocolError
}

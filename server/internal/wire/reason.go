package wire

// CloseReason records why a connection ended.
type CloseReason uint8

// Reasons a connection ends.
const (
	ReasonNone             CloseReason = iota
	ReasonPeerClose                    // the peer sent a close frame
	ReasonPeerGone                     // TCP ended without a close handshake
	ReasonRejected                     // the upgrade was refused with an HTTP error
	ReasonHandshakeTimeout             // the upgrade did not finish in time
	ReasonIdleTimeout                  // no frame at all for IdleTimeout
	ReasonProtocolError                // the peer broke RFC 6455 (1002)
	ReasonInvalidUTF8                  // invalid UTF-8 in a text message (1007)
	ReasonTooLarge                     // a message over MaxMessage (1009)
	ReasonSlowConsumer                 // outbound queue passed MaxPending
	ReasonShutdown                     // the server is going away (1001)
	ReasonCloseTimeout                 // the peer did not answer our close in time
	ReasonTokenExpired                 // the connection outlived its token
	ReasonRateLimited                  // the client sent requests too fast
	ReasonKicked                       // the backend closed the user's connections
	ReasonUnauthorized                 // an auth=inband upgrade with an invalid token
	ReasonReplaced                     // closed for a newer connection of a user at its cap
	ReasonUnadmitted                   // the connect hook could not decide: down, slow, garbled, or full
	ReasonRefused                      // the connect hook refused the connection
	NumReasons                         // the number of reasons: for tables indexed by reason
)

var reasonNames = [NumReasons]string{
	ReasonNone:             "none",
	ReasonPeerClose:        "peer_close",
	ReasonPeerGone:         "peer_gone",
	ReasonRejected:         "rejected",
	ReasonHandshakeTimeout: "handshake_timeout",
	ReasonIdleTimeout:      "idle_timeout",
	ReasonProtocolError:    "protocol_error",
	ReasonInvalidUTF8:      "invalid_utf8",
	ReasonTooLarge:         "too_large",
	ReasonSlowConsumer:     "slow_consumer",
	ReasonShutdown:         "shutdown",
	ReasonCloseTimeout:     "close_timeout",
	ReasonTokenExpired:     "token_expired",
	ReasonRateLimited:      "rate_limited",
	ReasonKicked:           "kicked",
	ReasonUnauthorized:     "unauthorized",
	ReasonReplaced:         "replaced",
	ReasonUnadmitted:       "connect_unavailable",
	ReasonRefused:          "refused",
}

// String returns the reason's name as it appears in logs and metrics.
func (r CloseReason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "unknown"
}

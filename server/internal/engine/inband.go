package engine

import (
	"bytes"
	"net/url"
	"strconv"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/wspush/wspush/server/internal/auth"
	"github.com/wspush/wspush/server/internal/wire"
)

// In-band authentication failures (docs/protocol.md, "Authentication
// failures"). A browser's WebSocket and a mini-program's SocketTask report
// an HTTP 401 at the upgrade as a bare error, indistinguishable from a
// network failure, so their clients retry a dead token forever. A client
// that asks with ?auth=inband gets the upgrade completed instead, then the
// disconnect message and close frame that say what was wrong:
// token_expired (4003: get a new token) or unauthorized (4503: do not
// retry with this token). Without auth=inband the 401 stays.

// inband turns an authentication failure of an upgrade that asked for
// auth=inband into a disconnect kept in hs.refuse, and returns nil so that
// the upgrade completes; any other error it returns as it is.
func (hs *handshake) inband(err error) error {
	if err == nil || !inbandQuery(hs.query) {
		return err
	}
	switch {
	case auth.Expired(err):
		hs.refuse = &wire.DisconnectTokenExpired
	case auth.Invalid(err):
		hs.refuse = &wire.DisconnectUnauthorized
	default:
		return err
	}
	return nil
}

// inbandQuery reports whether a raw query string has auth=inband.
func inbandQuery(q []byte) bool {
	if !bytes.Contains(q, []byte("auth=inband")) {
		return false
	}
	v, _ := url.ParseQuery(string(q))
	return v.Get("auth") == "inband"
}

// refuse ends an upgraded connection whose token failed: the 101, the
// disconnect message and the close frame go out in one write, then the
// connection waits for the client's close like any server disconnect. It
// never joins the pool.
func (l *loop) refuse(c *conn, d wire.Disconnect) (gnet.Action, bool) {
	c.write(l.rsp.Bytes())
	if c.state == stateClosed {
		return gnet.None, false
	}
	c.disconnect(d, "")
	if c.state == stateClosed {
		return gnet.None, false
	}
	return gnet.None, true
}

// appendWelcomeLimits appends the welcome's max_message and, when the
// token expires, its exp in Unix milliseconds.
func appendWelcomeLimits(b []byte, maxMessage int, exp time.Time) []byte {
	b = append(b, `,"max_message":`...)
	b = strconv.AppendInt(b, int64(maxMessage), 10)
	if !exp.IsZero() {
		b = append(b, `,"exp":`...)
		b = strconv.AppendInt(b, exp.UnixMilli(), 10)
	}
	return b
}

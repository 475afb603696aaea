package engine

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"

	"github.com/wspush/wspush/server/internal/auth"
	"github.com/wspush/wspush/server/internal/wire"
)

// Path is the WebSocket endpoint.
const Path = "/ws"

// handshake is what the upgrader's callbacks learn about the request being
// upgraded. It is loop scratch, valid during one upgrade.
type handshake struct {
	query  []byte // the raw query string, copied out of the request
	bearer []byte // the token of an Authorization: Bearer header
	realIP []byte // X-Real-IP, set by a proxy in front: for the webhook
	xff    []byte // X-Forwarded-For, every such header joined (proxies.go)
	id     auth.Identity
	refuse *wire.Disconnect // an auth=inband failure, told after the 101 (inband.go)
	// For the connect hook (admit.go): the headers it is told of, as
	// name, value pairs, and whether the upgrade came without a token.
	hdrs    []string
	noToken bool
}

// handshakeRW gives the upgrader the request head to read and a buffer to
// write its response to; the loop sends the response in one write.
type handshakeRW struct {
	req *bytes.Reader
	rsp *bytes.Buffer
}

func (rw *handshakeRW) Read(p []byte) (int, error)  { return rw.req.Read(p) }
func (rw *handshakeRW) Write(p []byte) (int, error) { return rw.rsp.Write(p) }

var (
	headEnd = []byte("\r\n\r\n")

	errNotFound   = ws.RejectConnectionError(ws.RejectionStatus(http.StatusNotFound), ws.RejectionReason("the WebSocket endpoint is "+Path))
	errOverloaded = ws.RejectConnectionError(ws.RejectionStatus(http.StatusServiceUnavailable), ws.RejectionReason("the server is at its connection limit"))
	errDraining   = ws.RejectConnectionError(ws.RejectionStatus(http.StatusServiceUnavailable), ws.RejectionReason("the server is shutting down"))
)

// upgrader builds the loop's ws.Upgrader. Its callbacks get no connection
// argument, so they write into the loop's handshake scratch.
func (l *loop) upgrader() ws.Upgrader {
	return ws.Upgrader{
		Negotiate: l.negotiator(),
		OnRequest: func(uri []byte) error {
			path, query, _ := bytes.Cut(uri, []byte{'?'})
			if string(path) != Path {
				return errNotFound
			}
			l.hs.query = append(l.hs.query[:0], query...)
			return nil
		},
		OnHeader: func(key, value []byte) error {
			if len(l.s.cfg.AdmitHeaders) > 0 {
				if name, ok := l.admitHeader(key); ok {
					l.hs.hdrs = append(l.hs.hdrs, name, string(value))
				}
			}
			switch {
			case strings.EqualFold(string(key), "Origin"):
				return auth.CheckOrigin(l.s.cfg.Origins, value)
			case strings.EqualFold(string(key), "X-Real-IP"):
				l.hs.realIP = append(l.hs.realIP[:0], value...)
			case strings.EqualFold(string(key), "X-Forwarded-For"):
				l.hs.xff = appendHops(l.hs.xff, value)
			case strings.EqualFold(string(key), "Authorization"):
				if scheme, token, ok := strings.Cut(string(value), " "); ok && strings.EqualFold(scheme, "Bearer") {
					l.hs.bearer = append(l.hs.bearer[:0], strings.TrimSpace(token)...)
				}
			}
			return nil
		},
		OnBeforeUpgrade: func() (ws.HandshakeHeader, error) {
			switch {
			case l.s.draining.Load():
				return nil, errDraining
			case l.s.conns.Load() >= int64(l.s.cfg.MaxConns):
				return nil, errOverloaded
			}
			if l.s.cfg.Echo {
				return nil, nil
			}
			id, err := l.s.cfg.Auth.Authenticate(l.hs.query, l.hs.bearer)
			if err != nil && l.s.cfg.Admit != nil && auth.NoToken(err) {
				id, err = auth.Identity{}, nil // the connect hook decides
				l.hs.noToken = true
			}
			l.hs.id = id
			return nil, l.hs.inband(err)
		},
	}
}

// upgrade runs the opening handshake once the request head is complete. It
// reports done when c is upgraded and the bytes after the head (frames the
// client sent early) are left for the frame loop; otherwise act says what
// gnet should do: wait for more bytes, or close after an HTTP error.
func (l *loop) upgrade(c *conn) (act gnet.Action, done bool) {
	avail := c.gc.InboundBuffered()
	buf, _ := c.gc.Peek(min(avail, MaxHeaderBytes))
	end := bytes.Index(buf, headEnd)
	if end < 0 {
		if avail >= MaxHeaderBytes {
			return l.reject(c, http.StatusRequestHeaderFieldsTooLarge, "header_too_large",
				"the request head is over "+strconv.Itoa(MaxHeaderBytes)+" bytes", ""), false
		}
		return gnet.None, false // a partial head: wait, never block
	}
	end += len(headEnd)

	l.hs = handshake{query: l.hs.query[:0], bearer: l.hs.bearer[:0], realIP: l.hs.realIP[:0], xff: l.hs.xff[:0]}
	l.req.Reset(buf[:end])
	l.rsp.Reset()
	l.fl.ext.Reset()
	_, err := l.up.Upgrade(&l.hrw)
	if err != nil {
		return l.rejectErr(c, err), false
	}
	_, _ = c.gc.Discard(end)
	l.deflated(c)
	c.state = stateOpen
	c.seen = l.now
	l.s.conns.Add(1)
	l.s.upgrades.Add(1)
	if l.hs.refuse != nil {
		return l.refuse(c, *l.hs.refuse)
	}
	if l.s.cfg.Admit != nil && !l.s.cfg.Echo {
		return l.admit(c)
	}
	out := append(l.out[:0], l.rsp.Bytes()...)
	if !l.s.cfg.Echo {
		out = c.join(out, l.hs.id, &l.hs, nil)
	}
	l.out = out
	c.write(out)
	if c.state == stateClosed {
		return gnet.None, false
	}
	l.wheel.move(c, l.nextDeadline(c))
	return gnet.None, true
}

// rejectErr answers a failed upgrade with the HTTP status gobwas/ws chose
// for err, and a JSON body instead of its plain text.
func (l *loop) rejectErr(c *conn, err error) gnet.Action {
	status := http.StatusBadRequest
	var rej *ws.ConnectionRejectedError
	if errors.As(err, &rej) && rej.StatusCode() != 0 {
		status = rej.StatusCode()
	}
	var extra ws.HandshakeHeaderString
	code := "bad_request"
	switch status {
	case http.StatusNotFound:
		code = "not_found"
	case http.StatusMethodNotAllowed:
		code = "method_not_allowed"
	case http.StatusUpgradeRequired:
		// RFC 6455 4.4: tell the client which version we speak.
		code = "upgrade_required"
		extra = "Sec-WebSocket-Version: 13\r\n"
	case http.StatusUnauthorized:
		code = "unauthorized"
	case http.StatusForbidden:
		code = "forbidden"
	case http.StatusServiceUnavailable:
		code = "unavailable"
	case http.StatusHTTPVersionNotSupported:
		code = "http_version_not_supported"
	}
	return l.reject(c, status, code, err.Error(), extra)
}

// reject writes an HTTP error response with a JSON body and closes c.
func (l *loop) reject(c *conn, status int, code, msg string, extra ws.HandshakeHeaderString) gnet.Action {
	c.reason = wire.ReasonRejected
	l.s.rejected(status)
	l.out = wire.AppendHTTPError(l.out[:0], status, code, msg, string(extra))
	c.write(l.out)
	return gnet.Close
}

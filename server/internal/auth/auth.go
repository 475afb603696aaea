package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"
)

// Claims are the JWT claims wspush reads. sub is the user id; exp, when
// present, ends the connection with DisconnectTokenExpired once it passes.
// Rooms and Publish list the rooms the user may join and publish to, as
// exact names or prefixes ending in "*" ("chat:*"; "*" alone is any room);
// Send lets the user send messages to other users: to any, or, with
// SendTo, only to the users it lists (exact ids or prefixes ending in
// "*", as for rooms). The backend can put any user in any room through the
// HTTP API regardless of these claims.
type Claims struct {
	jwt.RegisteredClaims
	Rooms   []string `json:"rooms,omitempty"`
	Publish []string `json:"publish,omitempty"`
	Send    bool     `json:"send,omitempty"`
	SendTo  []string `json:"send_to,omitempty"`
}

// Perms are what a token allows; nil (development mode) allows everything.
type Perms struct {
	rooms   []string
	publish []string
	send    bool
	sendTo  []string // nil: any user
}

// CanJoin reports whether the token allows joining room.
func (p *Perms) CanJoin(room string) bool { return p == nil || matchAny(p.rooms, room) }

// CanPublish reports whether the token allows publishing to room.
func (p *Perms) CanPublish(room string) bool { return p == nil || matchAny(p.publish, room) }

// CanSend reports whether the token allows sending to users.
func (p *Perms) CanSend() bool { return p == nil || p.send }

// CanSendTo reports whether the token allows sending to user.
func (p *Perms) CanSendTo(user string) bool {
	return p == nil || p.send && (p.sendTo == nil || matchAny(p.sendTo, user))
}

// matchAny reports whether name is one of patterns, or starts with the
// part before the "*" of a pattern that ends in one.
func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(name, prefix) {
				return true
			}
		} else if p == name {
			return true
		}
	}
	return false
}

// Identity is who a connection is, as its handshake proved.
type Identity struct {
	User  string
	Perms *Perms    // nil: everything is allowed (development mode)
	Exp   time.Time // zero: the token does not expire
}

// Rejections of the upgrade that carry their own HTTP status.
var (
	errNoToken      = reject(http.StatusUnauthorized, "a token is required: ?token=JWT or Authorization: Bearer JWT")
	errBadToken     = reject(http.StatusUnauthorized, "invalid token")
	errExpiredToken = reject(http.StatusUnauthorized, "token expired")
	errNoSubject    = reject(http.StatusUnauthorized, "the token has no sub claim")
	errOrigin       = reject(http.StatusForbidden, "origin not allowed")
	errBadUser      = reject(http.StatusBadRequest, "user ids are 1 to 128 bytes of printable UTF-8")
	errBadSubject   = reject(http.StatusBadRequest, "the token's sub is not a user id: 1 to 128 bytes of printable UTF-8")
)

// Expired reports whether err, from Authenticate or VerifyToken, is a
// token that has expired: its client should get a new one.
func Expired(err error) bool { return err == errExpiredToken }

// Invalid reports whether err, from Authenticate or VerifyToken, is a
// token that will never do: missing, forged, malformed, without a valid
// sub, or refused for its aud, iss or missing exp.
func Invalid(err error) bool {
	switch err {
	case errNoToken, errBadToken, errNoSubject, errBadSubject, errTokenAudience, errTokenIssuer, errTokenNoExp:
		return true
	}
	return false
}

func reject(status int, reason string) error {
	return ws.RejectConnectionError(ws.RejectionStatus(status), ws.RejectionReason(reason))
}

// Authenticator decides who connections are. Its zero value runs in
// development mode. Safe for any goroutine.
type Authenticator struct {
	// Secret is the HS256 secret of connection tokens; empty means
	// development mode: ?user= is trusted.
	Secret string
	// Audience and Issuer, when set, must be the token's aud and iss.
	Audience, Issuer string
	// RequireExp refuses tokens without an exp claim.
	RequireExp bool

	anon atomic.Int64 // anonymous users so far
}

// Authenticate decides who a connection is from its handshake, the raw
// query string and the token of an Authorization: Bearer header: the
// token from the query or the header when a secret is set, else
// (development mode) the ?user= the client names, or an anonymous id.
// Its errors are gobwas/ws rejections carrying their HTTP status.
func (a *Authenticator) Authenticate(query, bearer []byte) (Identity, error) {
	if a.Secret == "" {
		user := queryValue(query, "user")
		if user == "" {
			return Identity{User: "anon-" + strconv.FormatInt(a.anon.Add(1), 10)}, nil
		}
		if !ValidName(user) {
			return Identity{}, errBadUser
		}
		return Identity{User: user}, nil
	}
	token := queryValue(query, "token")
	if token == "" {
		token = string(bearer)
	}
	if token == "" {
		return Identity{}, errNoToken
	}
	return a.VerifyToken(token)
}

// queryValue is url.ParseQuery(string(query)).Get(key) without the map:
// the first value of key, unescaped, from the pairs that parse (a pair
// with a semicolon or a bad escape is skipped, as ParseQuery skips it).
// It allocates only the value it returns.
func queryValue(query []byte, key string) string {
	for q := query; len(q) > 0; {
		var kv []byte
		kv, q, _ = bytes.Cut(q, []byte("&"))
		if len(kv) == 0 || bytes.IndexByte(kv, ';') >= 0 {
			continue
		}
		k, v, _ := bytes.Cut(kv, []byte("="))
		if bytes.ContainsAny(k, "%+") {
			uk, err := url.QueryUnescape(string(k))
			if err != nil || uk != key {
				continue
			}
		} else if string(k) != key {
			continue
		}
		if !bytes.ContainsAny(v, "%+") {
			return string(v)
		}
		u, err := url.QueryUnescape(string(v))
		if err != nil {
			continue
		}
		return u
	}
	return ""
}

// VerifyToken checks an HS256 token against the secret and returns the
// identity it proves: at the upgrade, and for an in-band refresh. Its
// errors are those of Authenticate; Expired and Invalid tell them apart.
func (a *Authenticator) VerifyToken(token string) (Identity, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) {
		return []byte(a.Secret), nil
	}, a.options()...)
	switch {
	case err != nil:
		return Identity{}, tokenError(err)
	case c.Subject == "":
		return Identity{}, errNoSubject
	case !ValidName(c.Subject):
		return Identity{}, errBadSubject
	}
	id := Identity{User: c.Subject, Perms: &Perms{rooms: c.Rooms, publish: c.Publish, send: c.Send, sendTo: c.SendTo}}
	if c.ExpiresAt != nil {
		id.Exp = c.ExpiresAt.Time
	}
	return id, nil
}

// CheckOrigin applies the Origin patterns (--origins) to a browser's
// Origin header. Clients that send none (mini-programs, servers) pass, as
// does every origin when there are no patterns. A pattern with a scheme
// ("https://*.example.com") is matched against the whole origin; one
// without ("*.example.com") against the host of an https origin only, or
// of an http one on loopback (localhost development), so that a page
// served over plain http, which anyone on its path can rewrite, does not
// pass for the https site.
func CheckOrigin(patterns []string, origin []byte) error {
	if len(patterns) == 0 || len(origin) == 0 {
		return nil
	}
	o := string(origin)
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return errOrigin
	}
	hostOK := u.Scheme == "https" || (u.Scheme == "http" && LoopbackHost(u.Hostname()))
	for _, p := range patterns {
		if strings.Contains(p, "://") {
			if ok, _ := path.Match(p, o); ok {
				return nil
			}
			continue
		}
		if ok, _ := path.Match(p, u.Host); ok && hostOK {
			return nil
		}
	}
	return errOrigin
}

// ValidName reports whether a user id or room name is acceptable: 1 to 128
// bytes of valid UTF-8 whose every character is visible (visible.go).
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	return visible(s)
}

// NoToken reports whether err, from Authenticate, is only that no token
// was given: a connection the connect hook may still admit.
func NoToken(err error) bool { return err == errNoToken }

// NewPerms returns the permissions of a token with these claims, for a
// connection the connect hook admitted with its own.
func NewPerms(rooms, publish []string, send bool, sendTo []string) *Perms {
	return &Perms{rooms: rooms, publish: publish, send: send, sendTo: sendTo}
}

// TokenClaims returns the claims part of a token that VerifyToken
// accepted, as the JSON it carried, or nil if it is not a JWT.
func TokenClaims(token string) json.RawMessage {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || !json.Valid(b) {
		return nil
	}
	return b
}

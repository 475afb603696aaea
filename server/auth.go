package server

import (
	"errors"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"
)

// Claims are the JWT claims wspush reads. sub is the user id; exp, when
// present, ends the connection with DisconnectTokenExpired once it passes.
// Rooms and Publish list the rooms the user may join and publish to, as
// exact names or prefixes ending in "*" ("chat:*"; "*" alone is any room);
// Send lets the user send messages to other users. The backend can put any
// user in any room through the HTTP API regardless of these claims.
type Claims struct {
	jwt.RegisteredClaims
	Rooms   []string `json:"rooms,omitempty"`
	Publish []string `json:"publish,omitempty"`
	Send    bool     `json:"send,omitempty"`
}

// perms are what a token allows; nil (development mode) allows everything.
type perms struct {
	rooms   []string
	publish []string
	send    bool
}

func (p *perms) canJoin(room string) bool    { return p == nil || matchAny(p.rooms, room) }
func (p *perms) canPublish(room string) bool { return p == nil || matchAny(p.publish, room) }
func (p *perms) canSend() bool               { return p == nil || p.send }

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

// identity is who a connection is, as its handshake proved.
type identity struct {
	user  string
	perms *perms
	exp   time.Time // zero: the token does not expire
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

func reject(status int, reason string) error {
	return ws.RejectConnectionError(ws.RejectionStatus(status), ws.RejectionReason(reason))
}

// authenticate decides who the connection is from its handshake: the token
// from the query or the Authorization header when a JWT secret is set,
// else (development mode) the ?user= the client names, or an anonymous id.
func (s *Server) authenticate(hs *handshake) (identity, error) {
	q, _ := url.ParseQuery(string(hs.query))
	if s.cfg.JWTSecret == "" {
		user := q.Get("user")
		if user == "" {
			return identity{user: "anon-" + strconv.FormatInt(s.anon.Add(1), 10)}, nil
		}
		if !validName(user) {
			return identity{}, errBadUser
		}
		return identity{user: user}, nil
	}
	token := q.Get("token")
	if token == "" {
		token = string(hs.bearer)
	}
	if token == "" {
		return identity{}, errNoToken
	}
	return s.verifyToken(token)
}

// verifyToken checks an HS256 token against the JWT secret and returns the
// identity it proves: at the upgrade, and for an in-band refresh.
func (s *Server) verifyToken(token string) (identity, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) {
		return []byte(s.cfg.JWTSecret), nil
	}, jwt.WithValidMethods([]string{"HS256"}), jwt.WithLeeway(5*time.Second))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return identity{}, errExpiredToken
	case err != nil:
		return identity{}, errBadToken
	case c.Subject == "":
		return identity{}, errNoSubject
	case !validName(c.Subject):
		return identity{}, errBadSubject
	}
	id := identity{user: c.Subject, perms: &perms{rooms: c.Rooms, publish: c.Publish, send: c.Send}}
	if c.ExpiresAt != nil {
		id.exp = c.ExpiresAt.Time
	}
	return id, nil
}

// checkOrigin applies --origins to a browser's Origin header. Clients that
// send none (mini-programs, servers) pass.
func (s *Server) checkOrigin(origin []byte) error {
	if len(s.cfg.Origins) == 0 || len(origin) == 0 {
		return nil
	}
	o := string(origin)
	host := o
	if u, err := url.Parse(o); err == nil && u.Host != "" {
		host = u.Host
	}
	for _, p := range s.cfg.Origins {
		if ok, _ := path.Match(p, o); ok {
			return nil
		}
		if ok, _ := path.Match(p, host); ok {
			return nil
		}
	}
	return errOrigin
}

// validName reports whether a user id or room name is acceptable: 1 to 128
// bytes of valid UTF-8 without control characters.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}

package console

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Roles of a console session.
const (
	// RoleAdmin may do everything the console offers.
	RoleAdmin = "admin"
	// RoleViewer sees, but cannot push, publish, broadcast, kick or
	// disconnect, and never sees message payloads.
	RoleViewer = "viewer"
)

// Auth limits (docs/console.md).
const (
	// SessionTTL is how long a session cookie lasts.
	SessionTTL = 12 * time.Hour
	// CookieName is the session cookie's name.
	CookieName = "wspush_console"
	// LoginFailures is how many failed logins a client address may make
	// per LoginWindow; past it, 429 until the window ends.
	LoginFailures = 5
	LoginWindow   = 5 * time.Minute
	// LimiterEntries caps the addresses the login limiter remembers; when
	// full, addresses it does not know share one entry.
	LimiterEntries = 4096
)

// User is an operator of --console-users.
type User struct {
	Name string
	Role string
	hash []byte
}

// ReadUsers reads a --console-users file: one operator a line, "NAME ROLE
// BCRYPT-HASH" (ROLE admin or viewer), blank lines and # comments
// skipped.
func ReadUsers(path string) ([]User, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("console users: %w", err)
	}
	var us []User
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("console users: %s:%d: want NAME ROLE BCRYPT-HASH", path, n)
		}
		if f[1] != RoleAdmin && f[1] != RoleViewer {
			return nil, fmt.Errorf("console users: %s:%d: role %q: want admin or viewer", path, n, f[1])
		}
		if _, err := bcrypt.Cost([]byte(f[2])); err != nil {
			return nil, fmt.Errorf("console users: %s:%d: %s's hash is not bcrypt (wspush hash-password makes one)", path, n, f[0])
		}
		if seen[f[0]] {
			return nil, fmt.Errorf("console users: %s:%d: %s listed twice", path, n, f[0])
		}
		seen[f[0]] = true
		us = append(us, User{Name: f[0], Role: f[1], hash: []byte(f[2])})
	}
	return us, sc.Err()
}

// session is what a signed cookie carries.
type session struct {
	Name  string `json:"n"`
	Role  string `json:"r"`
	Exp   int64  `json:"e"` // unix seconds
	Nonce string `json:"c"` // the CSRF token's seed
}

// keyCred is a key that logs in as a role, under a name for the audit log.
type keyCred struct {
	sum  [sha256.Size]byte
	name string
	role string
}

// gate checks logins and sessions.
type gate struct {
	secret  []byte // signs cookies; random per process
	keys    []keyCred
	users   map[string]User
	open    bool   // development mode: no credential configured
	devCSRF string // the CSRF token of development mode
	now     func() time.Time

	lim                  limiter
	ok, refused, limited atomic.Int64
}

func newGate(cfg Config) *gate {
	g := &gate{secret: make([]byte, 32), users: map[string]User{}, now: time.Now}
	_, _ = rand.Read(g.secret)
	add := func(key, name, role string) {
		if key != "" {
			g.keys = append(g.keys, keyCred{sha256.Sum256([]byte(key)), name, role})
		}
	}
	add(cfg.APIKey, "api-key", RoleAdmin)
	add(cfg.Key, "console-key", RoleAdmin)
	add(cfg.ReadonlyKey, "readonly-key", RoleViewer)
	for _, u := range cfg.Users {
		g.users[u.Name] = u
	}
	g.open = len(g.keys) == 0 && len(g.users) == 0
	g.devCSRF = g.sign([]byte("dev-csrf"))
	g.lim.m = map[string]*attempts{}
	return g
}

func (g *gate) sign(b []byte) string {
	m := hmac.New(sha256.New, g.secret)
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// login checks a key, or a user's password, and returns the session.
func (g *gate) login(user, secret string) (session, bool) {
	s := session{Exp: g.now().Add(SessionTTL).Unix()}
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	s.Nonce = base64.RawURLEncoding.EncodeToString(nonce[:])
	if user != "" {
		u, ok := g.users[user]
		// Compare with some hash even for an unknown user, so that the
		// time taken does not say who exists.
		hash := u.hash
		if !ok {
			hash = dummyHash
		}
		if bcrypt.CompareHashAndPassword(hash, []byte(secret)) != nil || !ok {
			return session{}, false
		}
		s.Name, s.Role = u.Name, u.Role
		return s, true
	}
	sum := sha256.Sum256([]byte(secret))
	for _, k := range g.keys {
		if subtle.ConstantTimeCompare(sum[:], k.sum[:]) == 1 {
			s.Name, s.Role = k.name, k.role
			return s, true
		}
	}
	return session{}, false
}

var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("wspush-no-such-user"), bcrypt.MinCost)

// cookie encodes s as a signed cookie value.
func (g *gate) cookie(s session) string {
	b, _ := json.Marshal(s)
	p := base64.RawURLEncoding.EncodeToString(b)
	return p + "." + g.sign([]byte(p))
}

// parse reads and checks a cookie value.
func (g *gate) parse(v string) (session, bool) {
	p, sig, ok := strings.Cut(v, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(g.sign([]byte(p)))) {
		return session{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	var s session
	if err != nil || json.Unmarshal(b, &s) != nil || s.Exp < g.now().Unix() {
		return session{}, false
	}
	return s, true
}

// csrf is the CSRF token of s: only the page that read it from
// /console/api/session, on the same origin, knows it.
func (g *gate) csrf(s session) string {
	if g.open {
		return g.devCSRF
	}
	return g.sign([]byte("csrf:" + s.Nonce))
}

// current is the request's session: the cookie's, or in development
// mode an admin one.
func (g *gate) current(r *http.Request) (session, bool) {
	if g.open {
		return session{Name: "development", Role: RoleAdmin}, true
	}
	c, err := r.Cookie(CookieName)
	if err != nil {
		return session{}, false
	}
	return g.parse(c.Value)
}

// sameOrigin reports whether r comes from the console's own pages: an
// Origin header, when there is one, must name r's host; a Sec-Fetch-Site,
// when there is one, must be same-origin.
func sameOrigin(r *http.Request) bool {
	if sfs := r.Header.Get("Sec-Fetch-Site"); sfs != "" && sfs != "same-origin" && sfs != "none" {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	_, host, ok := strings.Cut(o, "://")
	return ok && strings.EqualFold(host, r.Host)
}

// attempts is one address's failed logins in the current window.
type attempts struct {
	n     int
	start time.Time
}

// limiter counts failed logins per client address, in a map of at most
// LimiterEntries.
type limiter struct {
	mu       sync.Mutex
	m        map[string]*attempts
	overflow attempts // shared by addresses that found the map full
}

// clientAddr is the address the limiter counts r under: the peer's IP.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// entry returns addr's attempts, making room in the map if need be. It
// runs under l.mu.
func (l *limiter) entry(addr string, now time.Time) *attempts {
	if a, ok := l.m[addr]; ok {
		return a
	}
	if len(l.m) >= LimiterEntries {
		for k, a := range l.m {
			if now.Sub(a.start) >= LoginWindow {
				delete(l.m, k)
			}
		}
	}
	if len(l.m) >= LimiterEntries {
		if l.overflow.start.IsZero() {
			l.overflow.start = now
		}
		return &l.overflow
	}
	a := &attempts{start: now}
	l.m[addr] = a
	return a
}

// blocked reports how long addr must wait, 0 if it may try.
func (l *limiter) blocked(addr string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.entry(addr, now)
	if now.Sub(a.start) >= LoginWindow {
		*a = attempts{start: now}
	}
	if a.n >= LoginFailures {
		return a.start.Add(LoginWindow).Sub(now)
	}
	return 0
}

func (l *limiter) failed(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.entry(addr, now)
	if now.Sub(a.start) >= LoginWindow {
		*a = attempts{start: now}
	}
	a.n++
}

func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

package server

import (
	"errors"
	"fmt"
	"net/url"
)

// The trust boundaries of a server's configuration: who may name a user,
// which tokens count, which secrets may show up in logs. docs/security.md
// describes them for users.

// MinJWTSecret is the shortest JWTSecret accepted, in bytes. RFC 7518
// 3.2: "A key of the same size as the hash output (for instance, 256 bits
// for "HS256") or larger MUST be used with this algorithm."
const MinJWTSecret = 32

// Auth modes, as Stats.Auth and /healthz report them.
const (
	AuthJWT         = "jwt"         // every connection proves its user with a token
	AuthDevelopment = "development" // connections name their user with ?user=
	AuthEcho        = "echo"        // echo mode: no users at all
)

// AuthMode says how connections are identified: AuthJWT, AuthDevelopment
// or AuthEcho.
func (c Config) AuthMode() string {
	switch {
	case c.Echo:
		return AuthEcho
	case c.JWTSecret == "":
		return AuthDevelopment
	}
	return AuthJWT
}

// validateTrust refuses the configurations that would let outsiders be
// whoever they like.
func (c Config) validateTrust() error {
	addr := c.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	if c.AuthMode() == AuthDevelopment && !c.Insecure && !loopback(addr) {
		return fmt.Errorf("server: --addr %s is reachable from other hosts, and without --jwt-secret anyone there could connect as any user with ?user=: "+
			"set --jwt-secret (or WSPUSH_JWT_SECRET), listen on loopback (--addr 127.0.0.1:8080), "+
			"or pass --insecure if this network is yours alone (docs/security.md)", addr)
	}
	if c.JWTSecret != "" && len(c.JWTSecret) < MinJWTSecret {
		return fmt.Errorf("server: --jwt-secret is %d bytes; HS256 needs at least %d (RFC 7518 3.2): generate one with `openssl rand -base64 48`",
			len(c.JWTSecret), MinJWTSecret)
	}
	if c.APIMaxConns < 0 || c.APIReadTimeout < 0 {
		return errors.New("server: limits cannot be negative")
	}
	if b := c.budget(openFilesLimit()); b.ws < 16 {
		return fmt.Errorf("server: the open-files limit %d leaves %d descriptors for WebSocket connections after the API (%d), webhook, Redis and accept bursts (%d): raise it (ulimit -n, LimitNOFILE) or lower --api-max-conns",
			b.limit, b.ws, b.api, b.burst)
	}
	return nil
}

// warnTrust logs, once at start, what an operator should know about the
// configuration's trust: development mode loudly, missing secrets.
func (s *Server) warnTrust() {
	for _, w := range s.cfg.TrustWarnings() {
		s.log.Warn(w, "auth", s.cfg.AuthMode())
	}
}

// TrustWarnings are what an operator should know about c's trust, one
// sentence each, with secrets redacted: development mode, an unsigned
// webhook, a Redis without a password. serve logs them at start and
// --check-config prints them.
func (c Config) TrustWarnings() []string {
	var ws []string
	if c.AuthMode() == AuthDevelopment {
		addr := c.Addr
		if addr == "" {
			addr = DefaultAddr
		}
		if loopback(addr) {
			ws = append(ws, "DEVELOPMENT MODE: no --jwt-secret, so every connection on "+addr+" is trusted to name its user with ?user=; never expose this to users")
		} else {
			ws = append(ws, "DEVELOPMENT MODE ON A NON-LOOPBACK LISTENER (--insecure): anyone who reaches "+addr+" can connect as any user with ?user=")
		}
	}
	if c.Webhook.URL != "" && c.Webhook.Secret == "" {
		ws = append(ws, "the webhook "+RedactURL(c.Webhook.URL)+" has no --webhook-secret: the backend cannot tell wspush's events from forged ones")
	}
	if c.Redis != "" && c.ClusterSecret == "" {
		ws = append(ws, "no --cluster-secret: control messages between nodes (kicks, room changes) are believed from whoever can publish to Redis")
	}
	if c.Redis != "" {
		if u, err := url.Parse(c.Redis); err == nil {
			if _, ok := u.User.Password(); !ok {
				ws = append(ws, "--redis "+RedactURL(c.Redis)+" has no password: whoever reaches that Redis can push to every client and kick any user (docs/security.md)")
			}
		}
	}
	return ws
}

// healthAuth adds "auth":"development" to a /healthz answer in development
// mode, so that a deploy check sees it; other modes add nothing.
func (s *Server) healthAuth(m map[string]string) map[string]string {
	if s.cfg.AuthMode() == AuthDevelopment {
		m["auth"] = AuthDevelopment
	}
	return m
}

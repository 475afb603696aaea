package auth

import (
	"errors"
	"fmt"
	"net"

	"github.com/prometheus/client_golang/prometheus"
)

// How connections are identified, as /v1/stats and /healthz report it.
const (
	ModeJWT         = "jwt"         // every connection proves its user with a token
	ModeDevelopment = "development" // connections name their user with ?user=
	ModeEcho        = "echo"        // echo mode: no users at all
)

// MinSecret is the shortest JWT secret accepted, in bytes. RFC 7518 3.2:
// "A key of the same size as the hash output (for instance, 256 bits for
// "HS256") or larger MUST be used with this algorithm."
const MinSecret = 32

// Mode says how connections are identified: ModeEcho in echo mode,
// ModeDevelopment without a secret, ModeJWT with one.
func Mode(echo bool, secret string) string {
	switch {
	case echo:
		return ModeEcho
	case secret == "":
		return ModeDevelopment
	}
	return ModeJWT
}

// Check refuses the configurations that would let outsiders be whoever
// they like: development mode on a listener other hosts reach (addr)
// unless insecure says the network is the operator's alone, and a secret
// too short for HS256. It reports every problem at once.
func Check(mode, addr string, insecure bool, secret string) error {
	var errs []error
	if mode == ModeDevelopment && !insecure && !Loopback(addr) {
		errs = append(errs, fmt.Errorf("server: --addr %s is reachable from other hosts, and without --jwt-secret anyone there could connect as any user with ?user=: "+
			"set --jwt-secret (or WSPUSH_JWT_SECRET), listen on loopback (--addr 127.0.0.1:8080), "+
			"or pass --insecure if this network is yours alone (docs/security.md)", addr))
	}
	if secret != "" && len(secret) < MinSecret {
		errs = append(errs, fmt.Errorf("server: --jwt-secret is %d bytes; HS256 needs at least %d (RFC 7518 3.2): generate one with `openssl rand -base64 48`",
			len(secret), MinSecret))
	}
	return errors.Join(errs...)
}

// Warning is what an operator should know about mode on addr, one
// sentence, or "" when there is nothing to say.
func Warning(mode, addr string) string {
	if mode != ModeDevelopment {
		return ""
	}
	if Loopback(addr) {
		return "DEVELOPMENT MODE: no --jwt-secret, so every connection on " + addr + " is trusted to name its user with ?user=; never expose this to users"
	}
	return "DEVELOPMENT MODE ON A NON-LOOPBACK LISTENER (--insecure): anyone who reaches " + addr + " can connect as any user with ?user="
}

// Loopback reports whether addr (host:port) listens on loopback only.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var descDevelopment = prometheus.NewDesc("wspush_development_mode",
	"1 when connections name their user with ?user= (no --jwt-secret): never in production.", nil, nil)

// ModeCollector exports wspush_development_mode for mode.
func ModeCollector(mode string) prometheus.Collector { return modeCollector(mode) }

type modeCollector string

// Describe implements prometheus.Collector.
func (m modeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descDevelopment }

// Collect implements prometheus.Collector.
func (m modeCollector) Collect(ch chan<- prometheus.Metric) {
	v := 0.0
	if m == ModeDevelopment {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(descDevelopment, prometheus.GaugeValue, v)
}

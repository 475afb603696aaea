package auth

import (
	"net/netip"
	"net/url"
	"strings"
)

// RedactURL hides what a URL may carry as a secret: the password of its
// userinfo and the values of its query (...?token=SECRET). A string that
// does not parse is hidden whole after its scheme.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		scheme, _, ok := strings.Cut(s, "://")
		if !ok {
			return "<redacted>"
		}
		return scheme + "://<redacted>"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "redacted")
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{"redacted"}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// ScrubURLSecret removes the password of URL raw from msg, in both its
// raw and decoded forms: error texts of URL parsers repeat their input.
func ScrubURLSecret(msg, raw string) string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return msg
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return msg
	}
	_, pass, ok := strings.Cut(rest[:at], ":")
	if !ok || pass == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, pass, "redacted")
	if dec, err := url.PathUnescape(pass); err == nil && dec != "" {
		msg = strings.ReplaceAll(msg, dec, "redacted")
	}
	return msg
}

// LoopbackHost reports whether host (no port) names this machine only.
func LoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return err == nil && a.Unmap().IsLoopback()
}

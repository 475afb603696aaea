package api

import (
	"mime"
	"net"
	"net/http"
	"strings"

	"github.com/wspush/wspush/server/internal/auth"
)

// checkKeyless guards a keyless API, which Validate allows on loopback
// only, against the browsers on the same machine: a page may not use it
// through a DNS name that it rebinds to 127.0.0.1 (the Host is then that
// name), nor post to it across origins (a form or a "simple" fetch cannot
// send Content-Type: application/json without a CORS preflight, which the
// API never grants). DELETE always needs that preflight. It answers the
// request and returns false when it is refused.
func (a *handler) checkKeyless(w http.ResponseWriter, r *http.Request) bool {
	if a.on {
		return true
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if !auth.LoopbackHost(host) {
		writeError(w, http.StatusForbidden, "forbidden_host",
			"the API without --api-key answers only requests for a loopback host (localhost, 127.0.0.1, [::1]), not "+r.Host)
		return false
	}
	if r.Method == http.MethodPost {
		if !isJSON(r.Header.Get("Content-Type")) {
			writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type",
				"the API without --api-key takes POST bodies only with Content-Type: application/json")
			return false
		}
	}
	return true
}

// isJSON reports whether the Content-Type ct is application/json, with
// any parameters. The exact value, what nearly every backend sends, is
// recognized without parsing.
func isJSON(ct string) bool {
	if strings.EqualFold(ct, "application/json") {
		return true
	}
	mt, _, _ := mime.ParseMediaType(ct)
	return strings.EqualFold(mt, "application/json")
}

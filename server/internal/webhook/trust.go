package webhook

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/wspush/wspush/server/internal/auth"
)

// webhookClient is the webhook's HTTP client. It follows no redirect:
// that would carry the signed events to wherever the answer pointed, so a
// 3xx is the answer, and fails the batch like a 4xx. It keeps at most two connections
// to the backend, so that its descriptors stay within the reserve
// fdbudget.go keeps for it, and bounds each request by timeout.
func webhookClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			MaxIdleConns:    webhookConns,
			MaxConnsPerHost: webhookConns,
			IdleConnTimeout: 90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// webhookConns is the most connections the webhook opens at once.
const webhookConns = 2

// Conns is the most descriptors the webhook holds at once: its
// connections and a DNS lookup, for the server's descriptor budget.
const Conns = webhookConns + 2

// redactErr hides the secrets of URL raw in an error from the HTTP client,
// whose *url.Error repeats the URL (its query, and its password as "***").
func redactErr(err error, raw string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: auth.RedactURL(raw), Err: ue.Err}
	}
	return err
}

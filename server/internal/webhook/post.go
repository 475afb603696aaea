package webhook

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/wspush/wspush/server/internal/auth"
)

// webhookConns is the most connections the webhook opens at once.
const webhookConns = 2

// Conns is the most descriptors the webhook holds at once: its
// connections and a DNS lookup, for the server's descriptor budget.
const Conns = webhookConns + 2

// requestClasses label wspush_webhook_requests_total, and index
// Webhook.requests and Counters.Requests.
var requestClasses = [4]string{"2xx", "4xx", "5xx", "error"}

// webhookClient is the webhook's HTTP client. It follows no redirect:
// that would carry the signed events to wherever the answer pointed, so a
// 3xx is the answer, and fails the batch like a 4xx. It keeps at most two
// connections to the backend, so that its descriptors stay within the
// reserve the server's descriptor budget keeps for it (Conns), and bounds
// each request by timeout.
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

// post POSTs body once, signed with the time of this attempt, and
// returns the status. It counts the answer by class.
func (w *Webhook) post(body []byte) (int, error) {
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		w.requests[3].Add(1)
		return 0, redactErr(err, w.cfg.URL)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "wspush")
	w.sign(req.Header, body)
	resp, err := w.client.Do(req)
	if err != nil {
		w.requests[3].Add(1)
		return 0, redactErr(err, w.cfg.URL)
	}
	// Read a little of the answer so that the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode < 300:
		w.requests[0].Add(1)
	case resp.StatusCode < 500:
		w.requests[1].Add(1)
	default:
		w.requests[2].Add(1)
	}
	return resp.StatusCode, nil
}

// redactErr hides the secrets of URL raw in an error from the HTTP client,
// whose *url.Error repeats the URL (its query, and its password as "***").
func redactErr(err error, raw string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: auth.RedactURL(raw), Err: ue.Err}
	}
	return err
}

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// apiClient calls the server's HTTP API, or the APIs of several nodes in
// turn. Its methods may be called from several goroutines at once.
type apiClient struct {
	bases []string      // the base URLs; call number N goes to bases[N%len]
	next  atomic.Uint64 // calls made so far
	key   string
	hc    *http.Client
	pad   json.RawMessage // JSON filler of every push and broadcast (--payload); nil: none
}

// newAPIClient returns a client of api, one base URL or several separated
// by commas (--api), keeping up to conns idle connections to each.
func newAPIClient(api, key string, conns int) *apiClient {
	a := &apiClient{key: key}
	for _, b := range splitURLs(api) {
		a.bases = append(a.bases, strings.TrimRight(b, "/"))
	}
	tr := &http.Transport{
		MaxIdleConns:        conns * max(1, len(a.bases)),
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     30 * time.Second,
	}
	a.hc = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	return a
}

// base is the base URL of the next call: the URLs in turn, so that the
// calls spread evenly over the nodes of a cluster.
func (a *apiClient) base() string {
	return a.bases[(a.next.Add(1)-1)%uint64(len(a.bases))]
}

// close drops the idle keep-alive connections, and the goroutines that
// hold them.
func (a *apiClient) close() { a.hc.CloseIdleConnections() }

// apiError is an HTTP answer other than 2xx.
type apiError struct {
	status int
	body   string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("bench: API answered %d: %s", e.status, e.body)
}

// call POSTs (or GETs, with a nil body) path on the next base URL and
// decodes the JSON answer into out.
func (a *apiClient) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base()+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.key != "" {
		req.Header.Set("Authorization", "Bearer "+a.key)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &apiError{status: resp.StatusCode, body: strings.TrimSpace(string(b))}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("bench: %s %s: %w", method, path, err)
		}
	}
	return nil
}

// stamp is the data of a bench push: the sequence number and the sending
// time in microseconds since the Unix epoch. Microseconds stay exact even
// if the server decodes the number into a float64.
type stamp struct {
	Bench struct {
		Seq int64 `json:"seq"`
		TUS int64 `json:"t_us"`
	} `json:"bench"`
	Items json.RawMessage `json:"items,omitempty"` // --payload filler
}

func newStamp(seq int64) stamp {
	var s stamp
	s.Bench.Seq, s.Bench.TUS = seq, time.Now().UnixMicro()
	return s
}

// stamp is the data of push or broadcast seq, with the filler if any.
func (a *apiClient) stamp(seq int64) stamp {
	s := newStamp(seq)
	s.Items = a.pad
	return s
}

// filler is about n bytes of JSON, an array of order lines such as a real
// push might carry: keys repeat, values vary.
func filler(n int) json.RawMessage {
	if n <= 0 {
		return nil
	}
	b := []byte{'['}
	for i := 0; len(b) < n-60; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"sku":"SKU-%05d","qty":%d,"price":"%d.%02d","status":"%s"}`,
			(i*7919)%100000, 1+i%5, 3+(i*37)%200, (i*13)%100, [...]string{"paid", "shipped", "pending"}[i%3])
	}
	return append(b, ']')
}

// pushAnswer is what POST /v1/push answers that the bench counts.
type pushAnswer struct {
	Delivered int64    `json:"delivered"` // connections written to; in a cluster, nodes reached
	Online    []string `json:"online"`    // users a node holds: reached, or to be caught up
	Offline   []string `json:"offline"`   // users nothing reached
	Unknown   []string `json:"unknown"`   // users a cluster cannot tell about right after a Redis restart
}

// push sends one push to users and returns the server's answer.
func (a *apiClient) push(ctx context.Context, users []string, seq int64) (pushAnswer, error) {
	var out pushAnswer
	body := struct {
		Users []string `json:"users"`
		Data  stamp    `json:"data"`
	}{users, a.stamp(seq)}
	err := a.call(ctx, http.MethodPost, "/v1/push", body, &out)
	return out, err
}

// broadcast sends one broadcast and returns how many connections the
// server delivered it to.
func (a *apiClient) broadcast(ctx context.Context, seq int64) (int64, error) {
	var out struct {
		Delivered int64 `json:"delivered"`
	}
	body := struct {
		Data stamp `json:"data"`
	}{a.stamp(seq)}
	err := a.call(ctx, http.MethodPost, "/v1/broadcast", body, &out)
	return out.Delivered, err
}

// rss asks GET /v1/stats for the server's resident memory.
func (a *apiClient) rss(ctx context.Context) (int64, error) {
	var out struct {
		RSS *int64 `json:"rss_bytes"`
	}
	if err := a.call(ctx, http.MethodGet, "/v1/stats", nil, &out); err != nil {
		return 0, err
	}
	if out.RSS == nil {
		return 0, fmt.Errorf("bench: GET /v1/stats has no rss_bytes")
	}
	return *out.RSS, nil
}

// apiCause names an API failure for the failure counts: api_http_NNN,
// or api_ and the cause failureCause gives (api_refused, api_timeout, ...).
func apiCause(err error) string {
	if e, ok := err.(*apiError); ok {
		return "api_http_" + strconv.Itoa(e.status)
	}
	return "api_" + failureCause(err)
}

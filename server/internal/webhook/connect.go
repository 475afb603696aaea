package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wspush/wspush/server/internal/auth"
	"github.com/wspush/wspush/server/internal/wire"
)

// The connect hook (--connect-hook): one signed POST per connection,
// before its welcome, whose answer says who the connection is or refuses
// it. The engine bounds how many wait and for how long (engine/admit.go);
// this is the request and the reading of its answer.

// HookConns is the most connections the connect hook opens to the backend
// at once, for the server's descriptor budget (with a DNS lookup).
const HookConns = 64

// Bounds of a verdict, past which the answer is garbled.
const (
	maxHookAnswer = 64 << 10 // bytes of an answer read
	maxHookRooms  = 64       // rooms one verdict joins
	maxHookMeta   = 4 << 10  // bytes of the welcome's meta
	maxHookReason = 100      // bytes of a refusal's reason the client sees
)

// ConnectHook asks the backend about connections. Safe for any goroutine.
type ConnectHook struct {
	url, secret, node string
	client            *http.Client

	results  [5]atomic.Int64 // by hookResults
	duration prometheus.Histogram
}

// hookResults label wspush_connect_hook_requests_total.
var hookResults = [5]string{"accepted", "refused", "5xx", "error", "garbled"}

// NewConnectHook returns the hook posting to url, signed with secret as
// the webhook's events are (empty: unsigned), naming node in its requests.
func NewConnectHook(url, secret, node string) *ConnectHook {
	return &ConnectHook{url: url, secret: secret, node: node,
		client: &http.Client{
			Transport: &http.Transport{
				MaxIdleConns:        HookConns,
				MaxIdleConnsPerHost: HookConns,
				MaxConnsPerHost:     HookConns,
				IdleConnTimeout:     90 * time.Second,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "wspush_connect_hook_duration_seconds",
			Help:    "Time the connect hook took to answer, errors and timeouts included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
	}
}

// hookAnswer is the body of a 2xx answer.
type hookAnswer struct {
	User  string           `json:"user"`
	Rooms []string         `json:"rooms"`
	Meta  json.RawMessage  `json:"meta"`
	Perms *wire.AdmitPerms `json:"perms"`
}

// errGarbled is an answer that is not a verdict.
var errGarbled = errors.New("webhook: the connect hook's answer is not a verdict")

// Admit POSTs f and reads the verdict: a 2xx with a JSON object accepts
// (hookAnswer), a 4xx refuses with the reason of its {"reason":...} body
// or its status, anything else (5xx, 3xx, no answer by ctx's deadline, a
// 2xx that is not a valid verdict) is an error.
func (h *ConnectHook) Admit(ctx context.Context, f wire.ConnectFacts) (wire.Admission, error) {
	start := time.Now()
	defer func() { h.duration.Observe(time.Since(start).Seconds()) }()
	f.Node = h.node
	body, err := json.Marshal(f)
	if err != nil {
		return wire.Admission{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		h.results[3].Add(1)
		return wire.Admission{}, redactErr(err, h.url)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "wspush")
	if h.secret != "" {
		ts := fmt.Sprint(time.Now().Unix())
		req.Header.Set(TimestampHeader, ts)
		req.Header.Set(SignatureHeader, "sha256="+Sign([]byte(h.secret), ts, body))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.results[3].Add(1)
		return wire.Admission{}, redactErr(err, h.url)
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxHookAnswer+1))
	_ = resp.Body.Close()
	switch {
	case err != nil:
		h.results[3].Add(1)
		return wire.Admission{}, redactErr(err, h.url)
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		h.results[1].Add(1)
		return wire.Admission{Refused: true, Reason: refusal(resp.StatusCode, answer)}, nil
	case resp.StatusCode >= 500:
		h.results[2].Add(1)
		return wire.Admission{}, fmt.Errorf("webhook: the connect hook answered %d", resp.StatusCode)
	case resp.StatusCode >= 300 || len(answer) > maxHookAnswer:
		h.results[4].Add(1)
		return wire.Admission{}, errGarbled
	}
	v, err := verdict(answer)
	if err != nil {
		h.results[4].Add(1)
		return wire.Admission{}, err
	}
	h.results[0].Add(1)
	return v, nil
}

// verdict reads a 2xx answer, refusing what the server would not act on.
func verdict(answer []byte) (wire.Admission, error) {
	var a hookAnswer
	d := json.NewDecoder(bytes.NewReader(answer))
	if err := d.Decode(&a); err != nil {
		return wire.Admission{}, fmt.Errorf("%w: %v", errGarbled, err)
	}
	switch {
	case a.User != "" && !auth.ValidName(a.User):
		return wire.Admission{}, fmt.Errorf("%w: user is not 1 to 128 bytes of printable UTF-8", errGarbled)
	case len(a.Rooms) > maxHookRooms:
		return wire.Admission{}, fmt.Errorf("%w: more than %d rooms", errGarbled, maxHookRooms)
	case len(a.Meta) > maxHookMeta:
		return wire.Admission{}, fmt.Errorf("%w: meta over %d bytes", errGarbled, maxHookMeta)
	case len(a.Meta) > 0 && a.Meta[0] != '{' && string(a.Meta) != "null":
		return wire.Admission{}, fmt.Errorf("%w: meta is not a JSON object", errGarbled)
	}
	for _, r := range a.Rooms {
		if !auth.ValidName(r) {
			return wire.Admission{}, fmt.Errorf("%w: room %q is not 1 to 128 bytes of printable UTF-8", errGarbled, r)
		}
	}
	v := wire.Admission{User: a.User, Rooms: a.Rooms, Perms: a.Perms}
	if len(a.Meta) > 0 && a.Meta[0] == '{' {
		var compact bytes.Buffer
		if err := json.Compact(&compact, a.Meta); err != nil {
			return wire.Admission{}, fmt.Errorf("%w: meta: %v", errGarbled, err)
		}
		v.Meta = compact.Bytes()
	}
	return v, nil
}

// refusal is the reason a 4xx answer gives the client: its body's
// "reason", or its status text, cut to fit a close frame.
func refusal(status int, answer []byte) string {
	var a struct {
		Reason string `json:"reason"`
	}
	reason := http.StatusText(status)
	if json.Unmarshal(answer, &a) == nil && strings.TrimSpace(a.Reason) != "" {
		reason = strings.TrimSpace(a.Reason)
	}
	reason = strings.ToValidUTF8(reason, "")
	for len(reason) > maxHookReason {
		_, n := utf8.DecodeLastRuneInString(reason)
		reason = reason[:len(reason)-n]
	}
	return reason
}

// Collectors returns the hook's metrics.
func (h *ConnectHook) Collectors() []prometheus.Collector {
	return []prometheus.Collector{h.duration, hookCollector{h}}
}

var descHookRequests = prometheus.NewDesc("wspush_connect_hook_requests_total",
	"Requests to the connect hook, by result: accepted (2xx verdict), refused (4xx), 5xx, error (no answer, timeouts included), garbled (an answer that is not a verdict).",
	[]string{"result"}, nil)

type hookCollector struct{ h *ConnectHook }

func (c hookCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descHookRequests }

func (c hookCollector) Collect(ch chan<- prometheus.Metric) {
	for i, r := range hookResults {
		ch <- prometheus.MustNewConstMetric(descHookRequests, prometheus.CounterValue, float64(c.h.results[i].Load()), r)
	}
}

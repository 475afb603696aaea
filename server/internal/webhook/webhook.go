// Package webhook sends events to the backend (docs/webhook.md): with Config.URL set,
// the server POSTs what its clients do (connect, disconnect, publish, send,
// binary messages) to the backend as JSON batches signed with HMAC-SHA256.
//
// An event loop never waits for the backend. It copies the event into a
// bounded queue (a buffered channel and a byte budget) without blocking,
// and drops it, counted and logged at most every 10 s, when the queue is
// full. One sender goroutine batches the queue and POSTs, retrying with
// backoff. A dead backend therefore costs at most the queue's bytes.
//
// It receives event values (a connection's id and user, never the
// connection), and learns of users going offline from the presence
// tracker, through Offline.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wspush/wspush/server/internal/auth"
	"github.com/wspush/wspush/server/internal/wire"
)

// Event kinds: an event's "type", and the names Config.Events takes.
const (
	EventConnect    = "connect"
	EventDisconnect = "disconnect"
	EventPublish    = "publish"
	EventSend       = "send"
	EventBinary     = "binary"
	// EventOffline is a user's: its last connection closed and the
	// offline grace passed without a new one.
	EventOffline = "offline"
)

// DefaultEvents are the kinds sent when Config.Events is empty.
var DefaultEvents = []string{EventPublish, EventSend, EventConnect, EventDisconnect, EventOffline}

// SignatureHeader carries "sha256=" and the lowercase hex HMAC-SHA256,
// under Config.Secret, of the TimestampHeader's value, a dot and the
// request body (Sign).
const SignatureHeader = "X-Wspush-Signature"

// TimestampHeader carries the Unix time in seconds at which a signed
// request was sent; it is part of what is signed.
const TimestampHeader = "X-Wspush-Timestamp"

// Defaults for the zero values of Config.
const (
	DefaultQueue      = 65536
	DefaultQueueBytes = 64 << 20
	DefaultBatch      = 100
	DefaultDelay      = 100 * time.Millisecond
	DefaultTimeout    = 5 * time.Second
	DefaultRetries    = 5
	// webhookBatchBytes ends a batch early once its data reaches it.
	webhookBatchBytes = 1 << 20
	// offlineTick is how often the sender looks for users whose
	// OfflineGrace has passed.
	offlineTick = 100 * time.Millisecond
	// webhookBackoff is the first retry's delay; it doubles up to webhookMaxBackoff.
	webhookBackoff    = 100 * time.Millisecond
	webhookMaxBackoff = 10 * time.Second
	// EventOverhead is what an event costs against QueueBytes beyond its
	// strings and data.
	EventOverhead = 128
)

// Config configures the events sent to the backend. The zero value
// sends none.
type Config struct {
	// URL receives the events as POST requests. Empty means no webhook.
	URL string
	// Secret is the HMAC-SHA256 key of the SignatureHeader. Empty
	// sends no signature.
	Secret string
	// Events are the kinds to send (EventConnect, ...). Empty means
	// DefaultEvents.
	Events []string
	// Queue caps the events waiting to be sent; past it new events are
	// dropped and counted. Zero means 65536.
	Queue int
	// QueueBytes caps the bytes those events hold. Zero means 64 MiB.
	QueueBytes int
	// Batch caps the events of one request. Zero means 100.
	Batch int
	// Delay is how long a batch's first event waits for others. Zero
	// means 100ms.
	Delay time.Duration
	// Timeout bounds one request, a hanging backend included. Zero means 5s.
	Timeout time.Duration
	// Retries is how often a batch that failed (network error, 408, 429,
	// 5xx) is sent again, after 100ms, 200ms, ... up to 10s apart, with
	// jitter. Zero means 5; negative means never.
	Retries int
}

// Event kind bits.
const (
	evConnect uint8 = 1 << iota
	evDisconnect
	evPublish
	evSend
	evBinary
	evOffline
)

var kindNames = map[string]uint8{
	EventConnect: evConnect, EventDisconnect: evDisconnect,
	EventPublish: evPublish, EventSend: evSend, EventBinary: evBinary,
	EventOffline: evOffline,
}

// kindName is the name of one kind bit.
func kindName(k uint8) string {
	for name, b := range kindNames {
		if b == k {
			return name
		}
	}
	return ""
}

// kindsOf parses event kind names.
func kindsOf(names []string) (uint8, error) {
	if len(names) == 0 {
		names = DefaultEvents
	}
	var k uint8
	for _, n := range names {
		b, ok := kindNames[strings.TrimSpace(n)]
		if !ok {
			return 0, fmt.Errorf("webhook: unknown event %q: want connect, disconnect, offline, publish, send or binary", n)
		}
		k |= b
	}
	return k, nil
}

// Validate reports a webhook configuration the server must refuse.
func (c Config) Validate() error {
	if c.URL == "" {
		return nil
	}
	if !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
		return fmt.Errorf("webhook: URL %q: want http:// or https://", auth.RedactURL(c.URL))
	}
	_, err := kindsOf(c.Events)
	return err
}

func (c Config) withDefaults() Config {
	if c.Queue <= 0 {
		c.Queue = DefaultQueue
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = DefaultQueueBytes
	}
	if c.Batch <= 0 {
		c.Batch = DefaultBatch
	}
	if c.Delay <= 0 {
		c.Delay = DefaultDelay
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Retries == 0 {
		c.Retries = DefaultRetries
	} else if c.Retries < 0 {
		c.Retries = 0
	}
	return c
}

// event is one queued event. data is its own copy.
type event struct {
	kind   uint8
	ts     int64 // Unix milliseconds
	conn   uint64
	user   string
	target string   // the room of a publish, the user of a send
	reason string   // why a connection ended
	remote net.Addr // the peer of a connect
	ip     string   // X-Real-IP of a connect, set by a proxy
	data   []byte   // JSON of publish and send, raw bytes of binary
	size   int64    // what the event counts against QueueBytes
}

// Deps is what the webhook needs of the rest of the server.
type Deps struct {
	// Log receives the webhook's warnings. Nil discards them.
	Log *slog.Logger
	// Tick, when not nil, is called on the sender every 100 ms: the
	// presence tracker's expiry, which calls Offline.
	Tick func(now time.Time)
	// Connected reports, for users whose grace passed here, which have a
	// connection somewhere (in a cluster: on another node), with one
	// question for all of them. Nil: nobody has.
	Connected func(users []string) []bool
}

// Webhook sends events to the backend. A nil *Webhook sends nothing, so
// the calls on the event loops are single calls whatever the
// configuration. Its methods are safe for any goroutine and never block.
type Webhook struct {
	cfg    Config
	kinds  uint8
	deps   Deps
	log    *slog.Logger
	q      chan *event
	client *http.Client
	prefix string // event ids are prefix-seq: unique across restarts

	bytes   atomic.Int64 // bytes of queued events
	seq     atomic.Uint64
	lastLog atomic.Int64 // Unix nanoseconds of the last drop or failure log

	// Counters for the metrics.
	sent, dropped, failed, retries atomic.Int64
	requests                       [4]atomic.Int64 // by requestClasses

	// Users whose grace passed, waiting for the sender to check them
	// (Offline); bounded by Config.Queue.
	offMu   sync.Mutex
	offline []offlineUser

	startOnce, closeOnce sync.Once
	quit                 chan struct{} // closed by close: flush and stop
	done                 chan struct{} // closed when the sender has stopped
	ctx                  context.Context
	cancel               context.CancelFunc
}

// requestClasses label wspush_webhook_requests_total.
var requestClasses = [4]string{"2xx", "4xx", "5xx", "error"}

// offlineUser is a user whose grace passed, at due.
type offlineUser struct {
	user string
	due  time.Time
}

// New returns the webhook for cfg, not yet sending (Start), or nil when
// cfg has no URL.
func New(cfg Config, deps Deps) *Webhook {
	if cfg.URL == "" {
		return nil
	}
	cfg = cfg.withDefaults()
	kinds, _ := kindsOf(cfg.Events) // Validate has refused bad names
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var id [4]byte
	_, _ = io.ReadFull(crand.Reader, id[:])
	ctx, cancel := context.WithCancel(context.Background())
	return &Webhook{
		cfg:    cfg,
		kinds:  kinds,
		deps:   deps,
		log:    log,
		q:      make(chan *event, cfg.Queue),
		client: webhookClient(cfg.Timeout),
		prefix: hex.EncodeToString(id[:]),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		ctx:    ctx,
		cancel: cancel,
	}
}

// wants reports whether events of kind k are sent; false on a nil webhook.
func (w *Webhook) wants(k uint8) bool { return w != nil && w.kinds&k != 0 }

// Wants reports whether events of kind (EventConnect, ...) are sent;
// false on a nil webhook.
func (w *Webhook) Wants(kind string) bool { return w.wants(kindNames[kind]) }

// Connect queues the connect event of connection conn of user, from
// remote (ip: the X-Real-IP a proxy set, if any).
func (w *Webhook) Connect(conn uint64, user string, remote net.Addr, ip string) {
	if !w.wants(evConnect) {
		return
	}
	w.enqueue(&event{kind: evConnect, conn: conn, user: user, remote: remote, ip: ip}, nil)
}

// Disconnect queues the disconnect event of connection conn of user,
// which ended for reason.
func (w *Webhook) Disconnect(conn uint64, user, reason string) {
	if !w.wants(evDisconnect) {
		return
	}
	w.enqueue(&event{kind: evDisconnect, conn: conn, user: user, reason: reason}, nil)
}

// Message queues a client's publish (kind EventPublish, target the room)
// or send (EventSend, target the receiving user). data is copied.
func (w *Webhook) Message(kind string, conn uint64, user, target string, data []byte) {
	k := evSend
	if kind == EventPublish {
		k = evPublish
	}
	if !w.wants(k) {
		return
	}
	w.enqueue(&event{kind: k, conn: conn, user: user, target: target}, data)
}

// Binary queues a client's binary message, sent base64-encoded. data is
// copied.
func (w *Webhook) Binary(conn uint64, user string, data []byte) {
	if !w.wants(evBinary) {
		return
	}
	w.enqueue(&event{kind: evBinary, conn: conn, user: user}, data)
}

// Offline notes that user's grace passed at due with no connection here:
// the sender checks the other nodes, all such users at once, and sends an
// offline event for those with none. Past Config.Queue waiting users it is
// dropped and counted.
func (w *Webhook) Offline(user string, due time.Time) {
	if !w.wants(evOffline) {
		return
	}
	w.offMu.Lock()
	if len(w.offline) >= w.cfg.Queue {
		w.offMu.Unlock()
		w.drop()
		return
	}
	w.offline = append(w.offline, offlineUser{user, due})
	w.offMu.Unlock()
}

// enqueue puts e, with a copy of data, in the queue without ever blocking;
// when the queue is full it drops e. It may run on any goroutine.
func (w *Webhook) enqueue(e *event, data []byte) {
	e.size = int64(EventOverhead + len(data) + len(e.user) + len(e.target))
	if w.bytes.Add(e.size) > int64(w.cfg.QueueBytes) {
		w.bytes.Add(-e.size)
		w.drop()
		return
	}
	if len(data) > 0 {
		e.data = append([]byte(nil), data...)
	}
	e.ts = time.Now().UnixMilli()
	select {
	case w.q <- e:
	default:
		w.bytes.Add(-e.size)
		w.drop()
	}
}

// drop counts a dropped event and logs at most every 10 s.
func (w *Webhook) drop() {
	n := w.dropped.Add(1)
	if w.logDue() {
		w.log.Warn("webhook: queue full, dropping events: the backend is too slow or down",
			"url", auth.RedactURL(w.cfg.URL), "dropped_total", n, "queued", len(w.q), "queue_bytes", w.bytes.Load())
	}
}

// logDue reports, to one caller every 10 s, that it may log.
func (w *Webhook) logDue() bool {
	now, last := time.Now().UnixNano(), w.lastLog.Load()
	return now-last >= int64(10*time.Second) && w.lastLog.CompareAndSwap(last, now)
}

// Start starts the sender. A nil webhook does nothing.
func (w *Webhook) Start() {
	if w == nil {
		return
	}
	w.startOnce.Do(func() { go w.run() })
}

// Close flushes the queue, waiting until it is sent, ctx ends or twice
// Config.Timeout has passed, and stops
// the sender. Events queued after close are never sent. A nil webhook
// does nothing.
func (w *Webhook) Close(ctx context.Context) {
	if w == nil {
		return
	}
	// A dead backend must not hold a shutdown for long: the flush gets
	// two request timeouts at most.
	ctx, cancel := context.WithTimeout(ctx, 2*w.cfg.Timeout)
	defer cancel()
	started := true
	w.startOnce.Do(func() { started = false })
	w.closeOnce.Do(func() { close(w.quit) })
	if started {
		select {
		case <-w.done:
		case <-ctx.Done():
			w.cancel()
			<-w.done
		}
	}
	w.cancel()
	w.client.CloseIdleConnections()
}

// run is the sender: it collects batches from the queue and posts them,
// one at a time, until close; then it sends what is left.
func (w *Webhook) run() {
	defer close(w.done)
	batch := make([]*event, 0, w.cfg.Batch)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var expire <-chan time.Time // offline events come due
	if w.wants(evOffline) && w.deps.Tick != nil {
		t := time.NewTicker(offlineTick)
		defer t.Stop()
		expire = t.C
	}
	for {
		select {
		case e := <-w.q:
			batch = w.add(batch, e)
		case now := <-expire:
			w.deps.Tick(now)
			batch = w.offlineEvents(batch)
		case <-w.quit:
			w.flush(batch)
			return
		}
		if len(batch) == 0 {
			continue
		}
		timer.Reset(w.cfg.Delay)
		batch = w.fill(batch, timer.C)
		w.post(batch)
		batch = w.release(batch)
	}
}

// fill adds queued events to batch until it is full or timeout fires.
func (w *Webhook) fill(batch []*event, timeout <-chan time.Time) []*event {
	size := batch[0].size
	for len(batch) < w.cfg.Batch && size < webhookBatchBytes {
		select {
		case e := <-w.q:
			batch = w.add(batch, e)
			size += e.size
		case <-timeout:
			return batch
		case <-w.quit:
			return batch
		}
	}
	return batch
}

// flush sends batch and whatever is queued, until the queue is empty or
// close gives up waiting.
func (w *Webhook) flush(batch []*event) {
	for w.ctx.Err() == nil {
	fill:
		for len(batch) < w.cfg.Batch {
			select {
			case e := <-w.q:
				batch = w.add(batch, e)
			default:
				break fill
			}
		}
		if len(batch) == 0 {
			return
		}
		w.post(batch)
		batch = w.release(batch)
	}
}

// add appends e to batch.
func (w *Webhook) add(batch []*event, e *event) []*event {
	return append(batch, e)
}

// offlineEvents appends an offline event for each user whose grace passed
// and who has no connection on any node, asking about all of them at once.
func (w *Webhook) offlineEvents(batch []*event) []*event {
	w.offMu.Lock()
	due := w.offline
	w.offline = nil
	w.offMu.Unlock()
	if len(due) == 0 {
		return batch
	}
	var online []bool
	if w.deps.Connected != nil {
		users := make([]string, len(due))
		for i, u := range due {
			users[i] = u.user
		}
		online = w.deps.Connected(users)
	}
	for i, u := range due {
		if i < len(online) && online[i] {
			continue
		}
		e := &event{kind: evOffline, user: u.user, ts: u.due.UnixMilli()}
		e.size = int64(EventOverhead + len(u.user))
		w.bytes.Add(e.size)
		batch = append(batch, e)
	}
	return batch
}

// release gives the batch's bytes back to the queue budget.
func (w *Webhook) release(batch []*event) []*event {
	for i, e := range batch {
		w.bytes.Add(-e.size)
		batch[i] = nil
	}
	return batch[:0]
}

// post sends one batch, retrying with backoff while the backend fails.
func (w *Webhook) post(batch []*event) {
	body := w.encode(batch)
	backoff := webhookBackoff
	for attempt := 0; ; attempt++ {
		status, err := w.request(body)
		if err == nil && status/100 == 2 {
			w.sent.Add(int64(len(batch)))
			return
		}
		retry := err != nil || status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests
		if !retry || attempt >= w.cfg.Retries || w.ctx.Err() != nil {
			n := w.failed.Add(int64(len(batch)))
			if w.logDue() {
				w.log.Warn("webhook: events not delivered", "url", auth.RedactURL(w.cfg.URL), "status", status,
					"err", err, "attempts", attempt+1, "failed_total", n)
			}
			return
		}
		w.retries.Add(1)
		t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
		select {
		case <-t.C:
		case <-w.ctx.Done():
			t.Stop()
		}
		backoff = min(2*backoff, webhookMaxBackoff)
	}
}

// request POSTs body once, signed with the time of this attempt, and
// returns the status.
func (w *Webhook) request(body []byte) (int, error) {
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		w.requests[3].Add(1)
		return 0, redactErr(err, w.cfg.URL)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "wspush")
	if w.cfg.Secret != "" {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set(TimestampHeader, ts)
		req.Header.Set(SignatureHeader, "sha256="+Sign([]byte(w.cfg.Secret), ts, body))
	}
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

// encode builds a request body: {"sent":MS,"events":[...]}.
func (w *Webhook) encode(batch []*event) []byte {
	b := make([]byte, 0, 256*len(batch))
	b = append(b, `{"sent":`...)
	b = strconv.AppendInt(b, time.Now().UnixMilli(), 10)
	b = append(b, `,"events":[`...)
	for i, e := range batch {
		if i > 0 {
			b = append(b, ',')
		}
		b = w.appendEvent(b, e)
	}
	return append(b, "]}"...)
}

// appendEvent appends one event's JSON (docs/webhook.md).
func (w *Webhook) appendEvent(b []byte, e *event) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, w.prefix...)
	b = append(b, '-')
	b = strconv.AppendUint(b, w.seq.Add(1), 10)
	b = append(b, `","type":"`...)
	b = append(b, kindName(e.kind)...)
	b = append(b, `","ts":`...)
	b = strconv.AppendInt(b, e.ts, 10)
	if e.conn != 0 {
		b = append(b, `,"conn":"c`...)
		b = strconv.AppendUint(b, e.conn, 10)
		b = append(b, '"')
	}
	b = append(b, `,"user":`...)
	b = wire.AppendString(b, e.user)
	switch e.kind {
	case evConnect:
		if e.remote != nil {
			b = append(b, `,"remote":`...)
			b = wire.AppendString(b, e.remote.String())
		}
		if e.ip != "" {
			b = append(b, `,"ip":`...)
			b = wire.AppendString(b, e.ip)
		}
	case evDisconnect:
		b = append(b, `,"reason":`...)
		b = wire.AppendString(b, e.reason)
	case evPublish:
		b = append(b, `,"room":`...)
		b = wire.AppendString(b, e.target)
		b = append(b, `,"data":`...)
		b = append(b, e.data...)
	case evSend:
		b = append(b, `,"to":`...)
		b = wire.AppendString(b, e.target)
		b = append(b, `,"data":`...)
		b = append(b, e.data...)
	case evBinary:
		b = append(b, `,"data_base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, e.data)
		b = append(b, '"')
	}
	return append(b, '}')
}

// Sign returns the lowercase hex HMAC-SHA256 under secret of timestamp,
// a dot and body: what a backend compares, in constant time, with the
// SignatureHeader after its "sha256=" prefix, timestamp being the
// TimestampHeader. Signing the time lets the backend refuse a
// request replayed later (docs/webhook.md).
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Counters are the webhook's counters: events sent, dropped and failed,
// batches retried, requests by class (2xx, 4xx, 5xx, error), and what the
// queue holds now.
type Counters struct {
	Sent, Dropped, Failed, Retries int64
	Requests                       [4]int64
	Queued, QueueBytes             int64
}

// Counters reads the webhook's counters.
func (w *Webhook) Counters() Counters {
	c := Counters{Sent: w.sent.Load(), Dropped: w.dropped.Load(), Failed: w.failed.Load(),
		Retries: w.retries.Load(), Queued: int64(len(w.q)), QueueBytes: w.bytes.Load()}
	for i := range w.requests {
		c.Requests[i] = w.requests[i].Load()
	}
	return c
}

// Collector returns the webhook's metrics.
func (w *Webhook) Collector() prometheus.Collector { return webhookCollector{w} }

var (
	descWebhookEvents = prometheus.NewDesc("wspush_webhook_events_total",
		"Events for the backend by result: sent (the backend answered 2xx), dropped (the queue was full), failed (given up after retries or refused with a 4xx).",
		[]string{"result"}, nil)
	descWebhookRequests = prometheus.NewDesc("wspush_webhook_requests_total",
		"Webhook requests by outcome: 2xx, 4xx, 5xx, error (network error or timeout).", []string{"status"}, nil)
	descWebhookRetries = prometheus.NewDesc("wspush_webhook_retries_total",
		"Webhook batches sent again after a failure.", nil, nil)
	descWebhookQueue = prometheus.NewDesc("wspush_webhook_queue_events",
		"Events waiting to be sent to the backend.", nil, nil)
	descWebhookQueueBytes = prometheus.NewDesc("wspush_webhook_queue_bytes",
		"Bytes held by events waiting to be sent, counted against --webhook-queue-bytes.", nil, nil)
)

// webhookCollector reads the webhook's atomics at scrape time.
type webhookCollector struct{ w *Webhook }

// Describe implements prometheus.Collector.
func (c webhookCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descWebhookEvents
	ch <- descWebhookRequests
	ch <- descWebhookRetries
	ch <- descWebhookQueue
	ch <- descWebhookQueueBytes
}

// Collect implements prometheus.Collector.
func (c webhookCollector) Collect(ch chan<- prometheus.Metric) {
	w := c.w
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(descWebhookEvents, w.sent.Load(), "sent")
	counter(descWebhookEvents, w.dropped.Load(), "dropped")
	counter(descWebhookEvents, w.failed.Load(), "failed")
	for i, class := range requestClasses {
		counter(descWebhookRequests, w.requests[i].Load(), class)
	}
	counter(descWebhookRetries, w.retries.Load())
	ch <- prometheus.MustNewConstMetric(descWebhookQueue, prometheus.GaugeValue, float64(len(w.q)))
	ch <- prometheus.MustNewConstMetric(descWebhookQueueBytes, prometheus.GaugeValue, float64(w.bytes.Load()))
}

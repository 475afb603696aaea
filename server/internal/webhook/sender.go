package webhook

import (
	"context"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/wspush/wspush/server/internal/auth"
)

// The sender: one goroutine that drains the queue into batches and posts
// them one at a time, retrying a failed batch with jittered backoff. While
// it waits for the backend the queue absorbs new events up to its caps.

const (
	// batchBytes ends a batch early once its data reaches it.
	batchBytes = 1 << 20
	// firstBackoff is the first retry's delay; it doubles up to maxBackoff.
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 10 * time.Second
)

// Start starts the sender. A nil webhook does nothing.
func (w *Webhook) Start() {
	if w == nil {
		return
	}
	w.startOnce.Do(func() { go w.run() })
}

// Close flushes the queue, waiting until it is sent, ctx ends or twice
// Config.Timeout has passed, and stops the sender. Events queued after
// close are never sent. A nil webhook does nothing.
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
	for {
		select {
		case e := <-w.q:
			batch = w.add(batch, e)
		case <-w.offReady:
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
		w.deliver(batch)
		batch = w.release(batch)
	}
}

// fill adds queued events to batch until it is full or timeout fires.
func (w *Webhook) fill(batch []*event, timeout <-chan time.Time) []*event {
	size := batch[0].size
	for len(batch) < w.cfg.Batch && size < batchBytes {
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
		w.deliver(batch)
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

// deliver sends one batch, retrying with backoff while the backend fails
// in a way worth retrying (a network error, 408, 429, 5xx).
func (w *Webhook) deliver(batch []*event) {
	body := w.encode(batch)
	backoff := firstBackoff
	for attempt := 0; ; attempt++ {
		status, err := w.post(body)
		if err == nil && status/100 == 2 {
			w.sent.Add(int64(len(batch)))
			return
		}
		retry := err != nil || status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests
		final := !retry || attempt >= w.cfg.Retries || w.ctx.Err() != nil
		w.failedAttempt(status, err, len(batch), attempt+1, final)
		if final {
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
		backoff = min(2*backoff, maxBackoff)
	}
}

package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/wspush/wspush/server/internal/wire"
)

// Delivery receipts (docs/api.md, "Receipts"): POST /v1/push and the
// messages of POST /v1/push/batch may carry "receipt":{"timeout":"30s"};
// the answer then has the message's id, and GET /v1/messages/{id} tells
// per user whether it was received, is pending, or was not received in
// time (undelivered: the webhook's message.undelivered told the backend).

// DefaultReceiptTimeout is a receipt's timeout when it names none.
const DefaultReceiptTimeout = 30 * time.Second

// Receipter is the Backend's door for receipts.
type Receipter interface {
	// BeginReceipts starts the receipts of pushes about to be sent,
	// giving those without an id one, and each its key (in starts), and
	// says for each nil or why not (wire.ErrReceiptsFull,
	// wire.ErrUnavailable). The push then carries
	// wire.ReceiptData(data, key) under that id.
	BeginReceipts(ctx context.Context, starts []wire.ReceiptStart) []error
	// Receipt is message id's receipt per user, or wire.ErrNoReceipt.
	Receipt(ctx context.Context, id string) (wire.Receipt, error)
	// ReceiptMaxTimeout is the longest timeout a receipt may ask for.
	ReceiptMaxTimeout() time.Duration
}

// receiptAsk is the "receipt" of a push.
type receiptAsk struct {
	Timeout string `json:"timeout"`
}

// wantsReceipt says whether raw, a push's "receipt", asks for one.
func wantsReceipt(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

// receiptTimeout reads raw, a push's "receipt", and returns its timeout,
// or why it is refused.
func (a *handler) receiptTimeout(raw json.RawMessage) (time.Duration, string) {
	var ask receiptAsk
	if err := json.Unmarshal(raw, &ask); err != nil {
		return 0, `receipt: want {"timeout":"30s"}`
	}
	max := a.b.ReceiptMaxTimeout()
	if ask.Timeout == "" {
		return min(DefaultReceiptTimeout, max), ""
	}
	d, err := time.ParseDuration(ask.Timeout)
	if err != nil || d <= 0 || d > max {
		return 0, "receipt: timeout is a duration from 1ms to " + max.String() + " (--receipt-max-timeout), like \"30s\""
	}
	return d, ""
}

// receiptAnswer is the answer of a push with a receipt: its id, and what
// the push did.
type receiptAnswer struct {
	ID string `json:"id"`
	wire.PushResult
}

// pushReceipt sends b, a push whose receipt asks for timeout, and answers.
func (a *handler) pushReceipt(w http.ResponseWriter, r *http.Request, b *body, timeout time.Duration, start time.Time) {
	ctx, cancel := loopsCtx(r)
	defer cancel()
	starts := []wire.ReceiptStart{{ID: b.ID, Users: b.Users, Data: b.Data, Timeout: timeout}}
	if err := a.b.BeginReceipts(ctx, starts)[0]; err != nil {
		a.m.observe(kindPush, start, err)
		a.receiptsFailed(w, r, err)
		return
	}
	res, err := a.b.Push(ctx, starts[0].ID, b.Users, wire.ReceiptData(b.Data, starts[0].Key))
	a.m.observe(kindPush, start, err)
	if err != nil {
		a.loopsFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, receiptAnswer{ID: starts[0].ID, PushResult: res})
}

// receiptsFailed answers a push whose receipts could not start: nothing
// was sent.
func (a *handler) receiptsFailed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, wire.ErrReceiptsFull) {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "receipts_full", err.Error()+"; retry later, as pending receipts resolve within their timeout")
		return
	}
	a.loopsFailed(w, r, err)
}

// GET /v1/messages/{id}
func (a *handler) message(w http.ResponseWriter, r *http.Request) {
	id, ok := pathName(w, r, "id")
	if !ok {
		return
	}
	ctx, cancel := loopsCtx(r)
	defer cancel()
	rc, err := a.b.Receipt(ctx, id)
	switch {
	case errors.Is(err, wire.ErrNoReceipt):
		writeError(w, http.StatusNotFound, "no_receipt", "no receipt is kept for message "+id+": it asked for none, or its receipts are older than their keep time")
		return
	case err != nil:
		a.loopsFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rc)
}

// noReceipt answers 400 and returns false if b, a broadcast or a room
// publish, asks for a receipt: receipts are per user, for pushes.
func noReceipt(w http.ResponseWriter, b *body) bool {
	if wantsReceipt(b.Receipt) {
		return answer(w, "receipt: only POST /v1/push and POST /v1/push/batch take receipts (a receipt is per user)")
	}
	return true
}

// batchReceipts starts the receipts of a batch's messages that ask for
// them (starts, msgs[startAt[k]] for starts[k]) in one call, and returns
// the messages to send: those whose receipts started, with their id and
// their envelope's mark, and those without receipts. A message whose
// receipts did not start gets its answer in out (at maps msgs to out) and
// is not sent.
func (a *handler) batchReceipts(r *http.Request, msgs []wire.Push, at []int, starts []wire.ReceiptStart, startAt []int, out []batchResult) ([]wire.Push, []int) {
	if len(starts) == 0 {
		return msgs, at
	}
	ctx, cancel := loopsCtx(r)
	defer cancel()
	refused := make([]bool, len(msgs))
	for k, err := range a.b.BeginReceipts(ctx, starts) {
		i := startAt[k]
		o := &out[at[i]]
		o.ID = starts[k].ID
		if err != nil {
			refused[i] = true
			o.Status, o.Error, o.Message = http.StatusServiceUnavailable, "receipts_full", err.Error()
			if !errors.Is(err, wire.ErrReceiptsFull) {
				o.Status, o.Error, o.Message = failure(err)
			}
			o.RetryAfter = 1
			continue
		}
		msgs[i].ID, msgs[i].Data = starts[k].ID, wire.ReceiptData(msgs[i].Data, starts[k].Key)
	}
	keep, keepAt := msgs[:0], at[:0]
	for i := range msgs {
		if !refused[i] {
			keep, keepAt = append(keep, msgs[i]), append(keepAt, at[i])
		}
	}
	return keep, keepAt
}

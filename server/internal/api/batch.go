package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/wspush/wspush/server/internal/wire"
)

// Batches: POST /v1/push/batch carries many different messages, each the
// body of one POST /v1/push, and answers one result per message, in
// order, each with its own status: a malformed message is refused alone,
// the others are sent. The backend delivers them all in one call
// (Batcher), without a round trip per message: on one node straight to the
// loops, in a cluster in one Redis pipeline.

// Defaults and caps of a batch (docs/api.md).
const (
	// DefaultBatchMessages is the most messages one batch may carry
	// unless Config.BatchMessages says otherwise.
	DefaultBatchMessages = 5000
	// DefaultBatchBytes caps a batch's body unless Config.BatchBytes
	// says otherwise.
	DefaultBatchBytes = 8 << 20
	// MaxBatchUsers caps the users of all the messages of one batch
	// together: what one call may make the server do.
	MaxBatchUsers = 100000
)

// Batcher is the Backend's door for batches.
type Batcher interface {
	// PushBatch sends each message as Push would and answers one Pushed
	// per message, in order. Messages to the same user arrive in the
	// order of the batch.
	PushBatch(ctx context.Context, msgs []wire.Push) []wire.Pushed
}

// batchEntry is one message of a batch as the backend writes it: the body
// of POST /v1/push, "receipt" included.
type batchEntry struct {
	body
}

// batchResult is the answer for one message: the status /v1/push would
// have answered and its body, the fields of PushResult on a 200, those of
// an error otherwise.
type batchResult struct {
	Status int    `json:"status"`
	ID     string `json:"id,omitempty"`
	*wire.PushResult
	Error      string `json:"error,omitempty"`
	Message    string `json:"message,omitempty"`
	RetryAfter int    `json:"retry_after,omitempty"` // seconds, on a 503
}

// batchLimits returns the count and byte caps in force.
func (a *handler) batchLimits() (int, int) {
	n, size := a.batchMessages, a.batchBytes
	if n <= 0 {
		n = DefaultBatchMessages
	}
	if size <= 0 {
		size = DefaultBatchBytes
	}
	return n, size
}

// POST /v1/push/batch {"messages":[{"users":[...],"data":ANY,"id":ID},...]}
func (a *handler) pushBatch(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	maxN, maxBytes := a.batchLimits()
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(maxBytes)))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large",
			"the batch is over "+strconv.Itoa(maxBytes)+" bytes (--api-batch-bytes)")
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "bad_request", "reading the body: "+err.Error())
		return
	}
	var req struct {
		Messages []json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(raw, &req); err != nil {
		writeError(w, http.StatusBadRequest, "bad_json", `the body is not {"messages":[...]}: `+err.Error())
		return
	}
	switch n := len(req.Messages); {
	case n == 0:
		writeError(w, http.StatusBadRequest, "bad_request", "messages: 1 to "+strconv.Itoa(maxN)+" messages required")
		return
	case n > maxN:
		writeError(w, http.StatusRequestEntityTooLarge, "too_many_messages",
			"messages: at most "+strconv.Itoa(maxN)+" in one batch (--api-batch-messages), got "+strconv.Itoa(n))
		return
	}
	out := make([]batchResult, len(req.Messages))
	var msgs []wire.Push
	var at []int // out's index of each of msgs
	var starts []wire.ReceiptStart
	var startAt []int // msgs' index of each of starts
	users := 0
	for i, m := range req.Messages {
		e, why := parseEntry(m)
		out[i].ID = e.ID
		var timeout time.Duration
		if why == "" && wantsReceipt(e.Receipt) {
			timeout, why = a.receiptTimeout(e.Receipt)
		}
		if why != "" {
			out[i].Status, out[i].Error, out[i].Message = http.StatusBadRequest, "bad_request", why
			continue
		}
		if users += len(e.Users); users > MaxBatchUsers {
			writeError(w, http.StatusRequestEntityTooLarge, "too_many_users",
				"the messages of one batch may name at most "+strconv.Itoa(MaxBatchUsers)+" users together")
			return
		}
		if timeout > 0 {
			starts = append(starts, wire.ReceiptStart{ID: e.ID, Users: e.Users, Data: e.Data, Timeout: timeout})
			startAt = append(startAt, len(msgs))
		}
		msgs = append(msgs, wire.Push{ID: e.ID, Users: e.Users, Data: e.Data})
		at = append(at, i)
	}
	msgs, at = a.batchReceipts(r, msgs, at, starts, startAt, out)
	for _, o := range out {
		if o.Status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1") // a message refused at the receipts' cap
		}
	}
	if len(msgs) > 0 {
		ctx, cancel := loopsCtx(r)
		defer cancel()
		for k, res := range a.b.PushBatch(ctx, msgs) {
			o := &out[at[k]]
			a.m.count(kindBatch, res.Err)
			if res.Err == nil {
				o.Status, o.PushResult = http.StatusOK, &res.Result
				continue
			}
			o.Status, o.Error, o.Message = failure(res.Err)
			if o.Status == http.StatusServiceUnavailable {
				o.RetryAfter = 1
				w.Header().Set("Retry-After", "1")
			}
		}
	}
	a.m.duration.WithLabelValues(kindBatch).Observe(time.Since(start).Seconds())
	writeJSON(w, http.StatusOK, struct {
		Results []batchResult `json:"results"`
	}{out})
}

// parseEntry reads and checks one message of a batch, and says what is
// wrong with it, or "".
func parseEntry(m json.RawMessage) (batchEntry, string) {
	var e batchEntry
	if err := json.Unmarshal(m, &e); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return e, typeMismatch(typ.Field)
		}
		return e, "not a JSON object: " + err.Error()
	}
	for _, why := range []string{checkID(&e.body), checkUsers(&e.body), checkData(&e.body)} {
		if why != "" {
			return e, why
		}
	}
	return e, ""
}

// failure is the status, code and message a message of a batch gets for
// err, as /v1/push answers it (loopsFailed).
func failure(err error) (int, string, string) {
	switch {
	case errors.Is(err, wire.ErrBusy):
		return http.StatusServiceUnavailable, "busy", err.Error() + "; the message may have reached some connections: retry later"
	case errors.Is(err, wire.ErrReplicas):
		return http.StatusServiceUnavailable, "replicas", err.Error() + "; it may have reached connections already: retry with the same id, which publishes nothing again and is answered 200 once the replicas have it"
	case errors.Is(err, wire.ErrUnavailable):
		return http.StatusServiceUnavailable, "unavailable", err.Error() + "; retry later with the same id, which is published at most once"
	}
	return http.StatusGatewayTimeout, "timeout", "the event loops did not finish within " + APITimeout.String() + "; the message may have reached some connections"
}

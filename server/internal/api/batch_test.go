package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/wspush/wspush/server/internal/wire"
)

// PushBatch answers each message as Push does, and fails the messages
// whose data is the string "fail" with the fake's error (or
// ErrUnavailable).
func (f *fakeBackend) PushBatch(_ context.Context, msgs []wire.Push) []wire.Pushed {
	out := make([]wire.Pushed, len(msgs))
	for i, m := range msgs {
		f.calls = append(f.calls, "batch "+strings.Join(m.Users, ","))
		if string(m.Data) == `"fail"` {
			out[i].Err = fmt.Errorf("part: %w", wire.ErrUnavailable)
			continue
		}
		out[i].Result = wire.PushResult{Delivered: len(m.Users), Online: m.Users, Offline: []string{}}
	}
	return out
}

// batchAnswer is the answer of POST /v1/push/batch as a backend decodes
// it.
type batchAnswer struct {
	Results []struct {
		Status     int      `json:"status"`
		ID         string   `json:"id"`
		Delivered  int      `json:"delivered"`
		Online     []string `json:"online"`
		Error      string   `json:"error"`
		Message    string   `json:"message"`
		RetryAfter int      `json:"retry_after"`
	} `json:"results"`
}

// One answer per message, in order: the malformed ones refused alone with
// their reason, a message Redis did not take answered 503 in its own
// status, the others sent.
func TestBatchAnswersEachMessageInOrder(t *testing.T) {
	f := &fakeBackend{}
	h := New(Config{}, f)
	body := `{"messages":[
		{"users":["a"],"data":1,"id":"m1"},
		{"users":"b","data":1},
		{"users":["c"]},
		7,
		{"users":["d","d","e"],"data":{"x":1}},
		{"users":["f"],"data":"fail","id":"m6"},
		{"users":["g"],"data":1,"receipt":{"timeout":"30s"}},
		{"users":["h"],"data":1,"id":"bad\u0000id"},
		{"users":["i"],"data":1,"receipt":{"timeout":"1h"}}
	]}`
	w := call(t, h, "POST", "/v1/push/batch", "", body)
	var got batchAnswer
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &got) != nil || len(got.Results) != 9 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	want := []int{200, 400, 400, 400, 200, 503, 200, 400, 400}
	for i, r := range got.Results {
		if r.Status != want[i] {
			t.Errorf("message %d: status %d (%s), want %d", i, r.Status, r.Message, want[i])
		}
		if r.Status == 400 && (r.Error != "bad_request" || r.Message == "") {
			t.Errorf("message %d: refused without a reason: %+v", i, r)
		}
	}
	if r := got.Results[0]; r.ID != "m1" || r.Delivered != 1 || len(r.Online) != 1 {
		t.Errorf("message 0: %+v", r)
	}
	if r := got.Results[4]; r.Delivered != 2 || strings.Join(r.Online, ",") != "d,e" {
		t.Errorf("message 4: repeated users not dropped: %+v", r)
	}
	if r := got.Results[5]; r.Error != "unavailable" || r.RetryAfter != 1 || r.ID != "m6" {
		t.Errorf("message 5: %+v", r)
	}
	if w.Header().Get("Retry-After") != "1" {
		t.Errorf("a batch with a 503 message has no Retry-After header")
	}
	if r := got.Results[6]; r.ID != "m-g" {
		t.Errorf("a message with a receipt is answered without the id the server gave it: %+v", r)
	}
	if !strings.Contains(got.Results[8].Message, "receipt") {
		t.Errorf("a receipt over the longest timeout is refused with %q", got.Results[8].Message)
	}
	// Only the well-formed messages reached the backend, in order, the
	// receipts started first in one call.
	if strings.Join(f.calls, ";") != "receipts m-g 30s;batch a;batch d,e;batch f;batch g" {
		t.Errorf("backend calls %q", f.calls)
	}
}

func TestBatchLimits(t *testing.T) {
	h := New(Config{BatchMessages: 3, BatchBytes: 200}, &fakeBackend{})
	many := `{"messages":[` + strings.Repeat(`{"users":["a"],"data":1},`, 3) + `{"users":["a"],"data":1}]}`
	big := `{"messages":[{"users":["a"],"data":"` + strings.Repeat("x", 200) + `"}]}`
	var lots []string
	for i := range 11 {
		lots = append(lots, `{"users":`+userList(MaxPushUsers)+`,"data":`+strconv.Itoa(i)+`}`)
	}
	tests := []struct {
		name   string
		h      *Config
		body   string
		status int
		code   string
	}{
		{"over the count", nil, many, 413, "too_many_messages"},
		{"over the bytes", nil, big, 413, "too_large"},
		{"over the users", &Config{BatchMessages: 20, BatchBytes: 64 << 20}, `{"messages":[` + strings.Join(lots, ",") + `]}`, 413, "too_many_users"},
		{"no messages", nil, `{"messages":[]}`, 400, "bad_request"},
		{"not an object", nil, `[1]`, 400, "bad_json"},
		{"messages not a list", nil, `{"messages":{}}`, 400, "bad_json"},
		{"bad JSON", nil, `{"messages":[`, 400, "bad_json"},
	}
	for _, tc := range tests {
		hh := h
		if tc.h != nil {
			hh = New(*tc.h, &fakeBackend{})
		}
		w := call(t, hh, "POST", "/v1/push/batch", "", tc.body)
		var e wire.Error
		if w.Code != tc.status || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error != tc.code || e.Message == "" {
			t.Errorf("%s: %d %.200s, want %d %s", tc.name, w.Code, w.Body, tc.status, tc.code)
		}
	}
	if w := call(t, New(Config{}, &fakeBackend{}), "GET", "/v1/push/batch", "", ""); w.Code != 405 {
		t.Errorf("GET on the batch: %d", w.Code)
	}
}

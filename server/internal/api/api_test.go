package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/wire"
)

// fakeBackend answers every call with what a test sets, and records the
// calls: the API is tested here without an engine. It is used from one
// goroutine at a time (httptest.ResponseRecorder).
type fakeBackend struct {
	err        error
	receiptErr error // BeginReceipts's answer for every start
	calls      []string
}

func (f *fakeBackend) Push(_ context.Context, _ string, users []string, _ json.RawMessage) (wire.PushResult, error) {
	f.calls = append(f.calls, "push "+strings.Join(users, ","))
	return wire.PushResult{Delivered: len(users), Online: users, Offline: []string{}}, f.err
}
func (f *fakeBackend) Broadcast(context.Context, string, json.RawMessage) (int, error) {
	f.calls = append(f.calls, "broadcast")
	return 0, f.err
}
func (f *fakeBackend) Publish(_ context.Context, _, room string, _ json.RawMessage) (int, error) {
	f.calls = append(f.calls, "publish "+room)
	return 1, f.err
}
func (f *fakeBackend) AddToRoom(_ context.Context, room string, users []string) (int, error) {
	f.calls = append(f.calls, "join "+room+" "+strings.Join(users, ","))
	return 0, f.err
}
func (f *fakeBackend) RemoveFromRoom(_ context.Context, room string, users []string) (int, error) {
	f.calls = append(f.calls, "leave "+room+" "+strings.Join(users, ","))
	return 0, f.err
}
func (f *fakeBackend) Kick(_ context.Context, user string) (int, error) {
	f.calls = append(f.calls, "kick "+user)
	return 0, f.err
}
func (f *fakeBackend) Presence(_ context.Context, user string) wire.Presence {
	f.calls = append(f.calls, "presence "+user)
	return wire.Presence{User: user}
}
func (f *fakeBackend) BeginReceipts(_ context.Context, starts []wire.ReceiptStart) []error {
	errs := make([]error, len(starts))
	for i := range starts {
		if starts[i].ID == "" {
			starts[i].ID = "m-" + strings.Join(starts[i].Users, "")
		}
		f.calls = append(f.calls, "receipts "+starts[i].ID+" "+starts[i].Timeout.String())
		errs[i] = f.receiptErr
	}
	return errs
}
func (f *fakeBackend) Receipt(_ context.Context, id string) (wire.Receipt, error) {
	f.calls = append(f.calls, "receipt "+id)
	if id != "known" {
		return wire.Receipt{}, wire.ErrNoReceipt
	}
	return wire.Receipt{ID: id, Pending: 1, Users: []wire.UserReceipt{{User: "al", State: wire.ReceiptPending}}}, nil
}
func (f *fakeBackend) ReceiptMaxTimeout() time.Duration { return time.Minute }
func (f *fakeBackend) Stats() any                       { return map[string]int{"connections": 0} }
func (f *fakeBackend) Health() (int, any)               { return 200, map[string]string{"status": "ok"} }

// call sends a JSON request for a loopback host, with key as a bearer
// unless it is empty.
func call(t *testing.T, h http.Handler, method, path, key, body string) *httptest.ResponseRecorder {
	t.Helper()
	return rawCall(h, method, path, "127.0.0.1:8081", "application/json", key, body)
}

// A queue on the way is full: the backend gets a status it can act on,
// 503 with Retry-After and a JSON reason, not a timeout.
func TestBusyOrUnavailableBackendAnswers503WithRetryAfter(t *testing.T) {
	for code, sentinel := range map[string]error{"busy": wire.ErrBusy, "unavailable": wire.ErrUnavailable, "replicas": wire.ErrReplicas} {
		f := &fakeBackend{err: fmt.Errorf("part: %w", sentinel)}
		h := New(Config{}, f)
		for _, c := range []struct{ path, body string }{
			{"/v1/push", `{"users":["al"],"data":1}`},
			{"/v1/rooms/r/publish", `{"data":1}`},
			{"/v1/broadcast", `{"data":1,"id":"order-7"}`},
		} {
			w := call(t, h, "POST", c.path, "", c.body)
			var e wire.Error
			if w.Code != 503 || w.Header().Get("Retry-After") == "" || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error != code {
				t.Errorf("%s: %d Retry-After %q %s, want 503 %s", c.path, w.Code, w.Header().Get("Retry-After"), w.Body, code)
			}
		}
	}
	if w := call(t, New(Config{}, &fakeBackend{}), "POST", "/v1/push", "", `{"users":["al"],"data":1,"id":"bad\u0000id"}`); w.Code != 400 {
		t.Errorf("a bad id: %d", w.Code)
	}
}

// Go's profiler is served on the API listener, behind the key like
// everything but /healthz.
func TestPprofIsBehindTheKey(t *testing.T) {
	h := New(Config{Key: "k"}, &fakeBackend{})
	if w := call(t, h, "GET", "/debug/pprof/", "", ""); w.Code != 401 {
		t.Fatalf("pprof without the key: %d", w.Code)
	}
	w := call(t, h, "GET", "/debug/pprof/", "k", "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), "goroutine") {
		t.Fatalf("pprof with the key: %d %.80s", w.Code, w.Body)
	}
	if w := call(t, h, "GET", "/debug/pprof/goroutine?debug=1", "k", ""); w.Code != 200 {
		t.Fatalf("goroutine profile: %d", w.Code)
	}
	if w := call(t, h, "GET", "/healthz", "", ""); w.Code != 200 {
		t.Fatalf("healthz without the key: %d", w.Code)
	}
}

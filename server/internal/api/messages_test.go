package api

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/wspush/wspush/server/internal/wire"
)

// A push that asks for a receipt starts it before it is sent, under the
// id it is answered with; one whose receipt is malformed, too long or on
// a call that takes none is refused with 400 and sends nothing.
func TestPushWithReceipt(t *testing.T) {
	f := &fakeBackend{}
	h := New(Config{}, f)
	w := call(t, h, "POST", "/v1/push", "", `{"users":["al","bo"],"data":1,"receipt":{"timeout":"5s"}}`)
	var got struct {
		ID        string `json:"id"`
		Delivered int    `json:"delivered"`
	}
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &got) != nil || got.ID != "m-albo" || got.Delivered != 2 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if c := strings.Join(f.calls, ";"); c != "receipts m-albo 5s;push al,bo" {
		t.Fatalf("calls %q", c)
	}
	f.calls = nil
	w = call(t, h, "POST", "/v1/push", "", `{"users":["al"],"data":1,"id":"order-7","receipt":{}}`)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"id":"order-7"`) || f.calls[0] != "receipts order-7 30s" {
		t.Fatalf("default timeout: %d %s %q", w.Code, w.Body, f.calls)
	}
	for _, c := range []struct{ path, body string }{
		{"/v1/push", `{"users":["al"],"data":1,"receipt":{"timeout":"2m"}}`},
		{"/v1/push", `{"users":["al"],"data":1,"receipt":{"timeout":"soon"}}`},
		{"/v1/push", `{"users":["al"],"data":1,"receipt":"30s"}`},
		{"/v1/broadcast", `{"data":1,"receipt":{"timeout":"5s"}}`},
		{"/v1/rooms/r/publish", `{"data":1,"receipt":{"timeout":"5s"}}`},
	} {
		f.calls = nil
		w := call(t, h, "POST", c.path, "", c.body)
		if w.Code != 400 || !strings.Contains(w.Body.String(), "receipt") || len(f.calls) != 0 {
			t.Errorf("%s %s: %d %s, calls %q; want 400 about the receipt, nothing sent", c.path, c.body, w.Code, w.Body, f.calls)
		}
	}
}

// At the cap the push is refused whole, 503 receipts_full with
// Retry-After, and nothing is sent; in a batch, that message alone.
func TestReceiptsFullRefusesThePush(t *testing.T) {
	f := &fakeBackend{receiptErr: fmt.Errorf("part: %w", wire.ErrReceiptsFull)}
	h := New(Config{}, f)
	w := call(t, h, "POST", "/v1/push", "", `{"users":["al"],"data":1,"receipt":{"timeout":"5s"}}`)
	if w.Code != 503 || w.Header().Get("Retry-After") != "1" || !strings.Contains(w.Body.String(), `"error":"receipts_full"`) {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	if strings.Contains(strings.Join(f.calls, ";"), "push") {
		t.Fatalf("pushed at the cap: %q", f.calls)
	}
	f.calls = nil
	w = call(t, h, "POST", "/v1/push/batch", "", `{"messages":[{"users":["a"],"data":1,"receipt":{}},{"users":["b"],"data":1}]}`)
	var got batchAnswer
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &got) != nil || len(got.Results) != 2 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if r := got.Results[0]; r.Status != 503 || r.Error != "receipts_full" || r.RetryAfter != 1 || r.ID != "m-a" {
		t.Errorf("message 0 at the cap: %+v", r)
	}
	if w.Header().Get("Retry-After") != "1" {
		t.Errorf("a batch with a message refused at the cap has no Retry-After header")
	}
	if got.Results[1].Status != 200 || strings.Join(f.calls, ";") != "receipts m-a 30s;batch b" {
		t.Errorf("the other message: %+v, calls %q", got.Results[1], f.calls)
	}
}

func TestGetMessage(t *testing.T) {
	h := New(Config{}, &fakeBackend{})
	w := call(t, h, "GET", "/v1/messages/known", "", "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"users":[{"user":"al","state":"pending"}]`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	w = call(t, h, "GET", "/v1/messages/other", "", "")
	if w.Code != 404 || !strings.Contains(w.Body.String(), `"error":"no_receipt"`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

package webhook

import (
	"strings"
	"testing"
	"time"
)

// message.undelivered goes whatever Config.Events lists; message.received
// only when listed. Each is one event per message, its users batched.
func TestReceiptEventsUndeliveredAlwaysReceivedOptIn(t *testing.T) {
	b := newBackend(t, nil)
	w := startHook(t, Config{URL: b.url, Events: []string{"connect"}, Delay: 10 * time.Millisecond}, Deps{})
	if w.WantsReceived() {
		t.Fatal("message.received is sent without being listed")
	}
	w.Received("m1", "alice")
	w.Undelivered("m1", []string{"bob", "carol"}, []byte(`[1,"x"]`))
	body := string(b.next().body)
	if strings.Contains(body, "message.received") || strings.Count(body, `"type":"message.undelivered"`) != 1 ||
		!strings.Contains(body, `"message":"m1","users":["bob","carol"],"data":[1,"x"]}`) {
		t.Fatalf("body %s", body)
	}
	closeHook(w)

	w = startHook(t, Config{URL: b.url, Events: []string{EventReceived}, Delay: 10 * time.Millisecond}, Deps{})
	w.Received("m2", "alice")
	if body := string(b.next().body); !strings.Contains(body, `"type":"message.received"`) || !strings.Contains(body, `"message":"m2","users":["alice"]}`) {
		t.Fatalf("body %s", body)
	}
	if err := (Config{URL: b.url, Events: []string{"message.undelivered", "message.received"}}).Validate(); err != nil {
		t.Fatalf("the receipt events are refused by name: %v", err)
	}
}

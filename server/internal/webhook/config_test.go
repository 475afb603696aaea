package webhook

import (
	"strings"
	"testing"
)

func TestValidateRefusesUnknownEventsAndOtherSchemes(t *testing.T) {
	err := Config{URL: "http://127.0.0.1/hook", Events: []string{"publish", "typing"}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "typing") {
		t.Fatalf("Validate: %v", err)
	}
	if err := (Config{URL: "ftp://x"}).Validate(); err == nil {
		t.Fatal("an ftp:// webhook was accepted")
	}
	if err := (Config{Events: []string{"typing"}}).Validate(); err != nil {
		t.Fatalf("no URL, no webhook, nothing to refuse: %v", err)
	}
}

// Without a URL there is no webhook, and the calls of the event loops on
// the nil *Webhook do nothing.
func TestNoURLIsANilWebhookThatSendsNothing(t *testing.T) {
	w := New(Config{}, Deps{})
	if w != nil {
		t.Fatalf("New without a URL: %+v", w)
	}
	w.Start()
	w.Connect(1, "alice", nil, "")
	w.Disconnect(1, "alice", "peer_close")
	w.Message(EventPublish, 1, "alice", "r", []byte("1"))
	w.Binary(1, "alice", []byte{1})
	w.Offline([]string{"alice"}, nil)
	if w.Wants(EventConnect) {
		t.Fatal("a nil webhook wants events")
	}
	closeHook(w)
}

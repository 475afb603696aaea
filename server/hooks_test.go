package server

import (
	"testing"
	"time"
)

// With --client-sends webhook a client's send goes through the server's
// hooks to the webhook alone: the backend gets the event and the target
// gets nothing (the engine's side, the ack and the hand-over to the hooks,
// is server/internal/engine's TestClientSendsAreTheBackendsToAllow).
func TestClientSendForTheWebhookReachesOnlyTheWebhook(t *testing.T) {
	rc := newReceiver(t, nil)
	wh := startServer(t, Config{ConnConfig: ConnConfig{ClientSends: "webhook"}, Webhook: WebhookConfig{URL: rc.srv.URL, Secret: testWebhookSecret, Events: []string{"send"}, Delay: 10 * time.Millisecond}})
	w, _ := dialAs(t, wh, "?user=al", "")
	target, _ := dialAs(t, wh, "?user=bob", "")
	w.SendJSON(`{"type":"send","to":"bob","data":3,"ref":1}`)
	w.ExpectJSON("ack")
	if evs := rc.waitEvents(1); evs[0].Type != "send" || evs[0].To != "bob" {
		t.Fatalf("webhook events %+v", evs)
	}
	target.SendJSON(`{"type":"ping"}`)
	target.ExpectJSON("pong") // nothing came before it: the send was not delivered
}

package webhook

import "github.com/wspush/wspush/server/internal/wire"

// The events of delivery receipts (docs/webhook.md): message.undelivered,
// sent for every push that asked for a receipt whatever Config.Events
// lists, so that the backend can fall back (WeChat's subscribe message,
// say) without keeping its own copy of the data:
//
//	{"id":"…","type":"message.undelivered","ts":MS,"message":"m7","users":["u1","u2"],"data":DATA}
//
// and message.received, one per user's first acknowledgement, opt-in:
//
//	{"id":"…","type":"message.received","ts":MS,"message":"m7","users":["u1"]}

// Undelivered queues a message.undelivered event: users did not
// acknowledge message id before its timeout; data is its data (JSON),
// copied. Like every event it waits in the bounded queue, and is dropped
// and counted (wspush_webhook_events_total{result="dropped"}) when that
// is full. users is kept: the caller must not modify it.
func (w *Webhook) Undelivered(id string, users []string, data []byte) {
	if !w.wants(evUndelivered) || len(users) == 0 {
		return
	}
	w.enqueue(&event{kind: evUndelivered, target: id, users: users}, data)
}

// Received queues a message.received event, when Config.Events asks for
// it: user acknowledged message id.
func (w *Webhook) Received(id, user string) {
	if !w.wants(evReceived) {
		return
	}
	w.enqueue(&event{kind: evReceived, target: id, users: []string{user}}, nil)
}

// WantsReceived reports whether message.received events are sent.
func (w *Webhook) WantsReceived() bool { return w.wants(evReceived) }

// appendReceipt appends the fields of a message.* event after its ts,
// and closes it.
func appendReceipt(b []byte, e *event) []byte {
	b = append(b, `,"message":`...)
	b = wire.AppendString(b, e.target)
	b = append(b, `,"users":[`...)
	for i, u := range e.users {
		if i > 0 {
			b = append(b, ',')
		}
		b = wire.AppendString(b, u)
	}
	b = append(b, ']')
	if e.kind == evUndelivered {
		b = append(b, `,"data":`...)
		b = append(b, e.data...)
	}
	return append(b, '}')
}

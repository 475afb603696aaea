// Package webhook sends events to the backend (docs/webhook.md): with Config.URL set,
// the server POSTs what its clients do (connect, disconnect, publish, send,
// binary messages) to the backend as JSON batches signed with HMAC-SHA256.
//
// An event loop never waits for the backend. It copies the event into a
// bounded queue (a buffered channel and a byte budget) without blocking,
// and drops it, counted and logged at most every 10 s, when the queue is
// full. One sender goroutine batches the queue and POSTs, retrying with
// backoff. A dead backend therefore costs at most the queue's bytes.
//
// It receives event values (a connection's id and user, never the
// connection). It learns of users whose offline grace passed from the
// presence Grace, whose clock calls Offline; the sender asks
// Deps.Connected once for all of them whether they came back on another
// node, and sends an offline event for each that did not.
//
//	w := webhook.New(webhook.Config{URL: "https://backend.example/hook", Secret: secret},
//		webhook.Deps{Log: logger})
//	w.Start()
//	w.Connect(id, "alice", remote, "") // on an event loop: queues and returns
//	...
//	w.Close(ctx) // flushes what is queued, for at most twice Config.Timeout
//
// The files follow the path of an event: config.go (Config and the event
// kinds), queue.go (the loop side: the queue, its byte budget, drops),
// sender.go (batches, retries, Close), encode.go (the JSON of a batch),
// sign.go (the signature headers), post.go (one HTTP request) and
// metrics.go (Counters and the Prometheus collector).
package webhook

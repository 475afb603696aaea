// Package wire is what wspush writes on its connections and answers on its
// ports, written once: the push envelope, JSON strings, the disconnect table
// and the close reasons, and the JSON error body of every HTTP error.
//
// It knows no connection, no goroutine and no I/O: every function appends to
// a caller's buffer or returns a value. The engine, the cluster, the webhook
// and the HTTP API all encode through it, so the shapes documented in
// docs/protocol.md and docs/api.md have one source.
//
//	f := wire.PushFrame(n, "", data, "", "", 0, ts) // a push frame, ready to share
package wire

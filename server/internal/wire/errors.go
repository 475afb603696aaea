package wire

import "errors"

// The refusals every part may raise and every caller may act on. A part
// wraps them with its own context (engine.ErrBusy is wire.ErrBusy with the
// event loop's words); callers test with errors.Is. The HTTP API answers
// both 503 with Retry-After (docs/api.md); a client's publish or send gets
// an error reply whose code is ClientCode's.
var (
	// ErrBusy: a queue on the way is full. The message may have reached
	// some connections; a retry with the same id is safe in a cluster.
	ErrBusy = errors.New("the server is too busy: a queue is full")
	// ErrUnavailable: the cluster's Redis is down or did not answer in
	// time. The message may or may not have been stored; a retry with the
	// same id is published at most once.
	ErrUnavailable = errors.New("the cluster is unavailable: redis does not answer")
	// ErrReplicas: the message was published on the Redis primary (and
	// reached the connections it could), but fewer replicas than
	// --redis-replicas acknowledged it in time, so a failover could lose
	// it. A retry with the same id publishes nothing again and is
	// answered 200 once the replicas have it.
	ErrReplicas = errors.New("too few Redis replicas acknowledged the message in time")
)

// ClientCode is the code of the error reply a client gets for err, a
// refusal of its publish or send: "unavailable" for ErrUnavailable, "busy"
// for everything else (a full queue, or a refusal nobody named).
func ClientCode(err error) string {
	if errors.Is(err, ErrUnavailable) {
		return "unavailable"
	}
	return "busy"
}

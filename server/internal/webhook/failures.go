package webhook

import (
	"sync"
	"time"

	"github.com/wspush/wspush/server/internal/wire"
)

// FailureRing is how many failed requests the webhook remembers, for the
// operator console.
const FailureRing = 50

// failures is a ring of the last failed requests.
type failures struct {
	mu   sync.Mutex
	ring [FailureRing]wire.WebhookFailure
	next int
	n    int
}

func (f *failures) add(x wire.WebhookFailure) {
	f.mu.Lock()
	f.ring[f.next] = x
	f.next = (f.next + 1) % FailureRing
	f.n = min(f.n+1, FailureRing)
	f.mu.Unlock()
}

// Failures lists the last failed requests (at most FailureRing), newest
// first. Nil-safe: a server without a webhook has none.
func (w *Webhook) Failures() []wire.WebhookFailure {
	out := []wire.WebhookFailure{}
	if w == nil {
		return out
	}
	f := &w.fails
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.n {
		out = append(out, f.ring[(f.next-1-i+FailureRing)%FailureRing])
	}
	return out
}

// failed records one failed attempt of a batch of n events.
func (w *Webhook) failedAttempt(status int, err error, n, attempt int, final bool) {
	x := wire.WebhookFailure{T: time.Now(), Status: status, Events: n, Attempt: attempt, Final: final}
	if err != nil {
		x.Error = err.Error()
	}
	w.fails.add(x)
}

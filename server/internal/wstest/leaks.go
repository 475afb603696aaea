package wstest

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// NoLeaks fails t if goroutines beyond those opts ignore are still
// running 10 s after it is called. A stopped gnet engine's loops may take
// a while to return on a loaded machine (the race pass beside other
// work), longer than goleak's own retries (about a second and a half):
// NoLeaks polls first, then lets goleak say what is left.
func NoLeaks(t testing.TB, opts ...goleak.Option) {
	t.Helper()
	end := time.Now().Add(10 * time.Second)
	for goleak.Find(opts...) != nil && time.Now().Before(end) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := goleak.Find(opts...); err != nil {
		t.Errorf("found unexpected goroutines: %v", err)
	}
}

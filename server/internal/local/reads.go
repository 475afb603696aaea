package local

import (
	"context"
	"time"

	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/wire"
)

// ReadHistory reads what a resume of w by user would replay (history
// package, Recover), for the API; wire.ErrNoHistory without a history.
func (b *Broker) ReadHistory(_ context.Context, user string, w history.Want) (history.Result, error) {
	if b.hist == nil {
		return history.Result{}, wire.ErrNoHistory
	}
	return history.Recover(w, b.hist.Since(w.Stream(user), w.After, time.Now())), nil
}

package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/wire"
)

// ReadHistory reads what a resume of w by user would replay, for the
// API: the stream's entries after w.After and its floor, in one round
// trip, through the recovery a resume goes through (serveResumes). It
// answers wire.ErrNoHistory when the cluster keeps none, ErrUnavailable
// when Redis does not answer.
func (cl *Cluster) ReadHistory(ctx context.Context, user string, w history.Want) (history.Result, error) {
	if !cl.History() {
		return history.Result{}, wire.ErrNoHistory
	}
	if !cl.up.Load() {
		return history.Result{}, ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, redisWait)
	defer cancel()
	key := cl.lay.streamKey(w.Stream(user))
	fl := cl.newFloors()
	var info *redis.XInfoStreamCmd
	var rng *redis.XMessageSliceCmd
	_, err := cl.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		fl.check(ctx, p, key)
		info = p.XInfoStream(ctx, key)
		rng = p.XRangeN(ctx, key, "("+w.After.String(), "+", int64(cl.cfg.HistorySize))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) && !isNoKey(err) {
		cl.failed(err)
		return history.Result{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	rd := cl.read(fl.of(key), info, rng, err, w.After)
	if rd.Err != nil {
		return history.Result{}, fmt.Errorf("%w: %v", ErrUnavailable, rd.Err)
	}
	return history.Recover(w, rd), nil
}

package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wspush/wspush/server/internal/wire"
)

// maxBatchPipeline caps the publish scripts of one pipeline of a batch:
// a bigger batch takes one round trip per this many messages.
const maxBatchPipeline = 1000

// PushBatch publishes msgs through Redis as Push does, the scripts of up
// to maxBatchPipeline messages in one pipeline, and waits for the answers,
// at most redisWait per pipeline (less if ctx ends first). Redis runs the
// scripts in the batch's order, so their positions follow it. Each message
// has its own answer: one whose script Redis did not run, or did not
// answer in time, gets ErrUnavailable (a retry with its id is published at
// most once), the others their PushResult, each acknowledged only once it
// is in Redis, as Push. With Config.Replicas the pipeline ends in one WAIT
// for all of its scripts' writes (one connection runs them all): when
// fewer replicas acknowledge them in time, every message it published gets
// ErrReplicas, as Push would.
func (cl *Cluster) PushBatch(ctx context.Context, msgs []wire.Push) []wire.Pushed {
	out := make([]wire.Pushed, len(msgs))
	if err := cl.keepingUp(ctx, len(msgs)); err != nil {
		for i := range out {
			out[i].Err = err
		}
		return out
	}
	for lo := 0; lo < len(msgs); lo += maxBatchPipeline {
		cl.pushPipeline(ctx, msgs[lo:min(lo+maxBatchPipeline, len(msgs))], out[lo:])
	}
	return out
}

// pushPipeline publishes msgs in one pipeline and writes their answers to
// out.
func (cl *Cluster) pushPipeline(ctx context.Context, msgs []wire.Push, out []wire.Pushed) {
	if cl.lay.sharded() {
		cl.pushBatchSharded(ctx, msgs, out) // shards.go
		return
	}
	if !cl.up.Load() {
		for i := range msgs {
			out[i].Err = ErrUnavailable
		}
		cl.unavailable.Add(int64(len(msgs)))
		return
	}
	ms := make([]msg, len(msgs))
	prs := make([]prepared, len(msgs))
	for i, m := range msgs {
		ms[i] = msg{kind: kindPush, id: m.ID, envID: m.ID, users: m.Users, data: m.Data}
		prs[i] = cl.prepare(ms[i])
	}
	ctx, cancel := context.WithTimeout(ctx, redisWait)
	defer cancel()
	timeout := redisWait - waitMargin
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl)-waitMargin)
	}
	timeout = max(timeout, 10*time.Millisecond) // WAIT 0 would wait for ever
	var wait *redis.Cmd
	run := func(p redis.Pipeliner) []*redis.Cmd {
		cmds := make([]*redis.Cmd, len(prs))
		for i := range prs {
			cmds[i] = publishScript.EvalSha(ctx, p, prs[i].keys, prs[i].args...)
		}
		if cl.cfg.Replicas > 0 {
			wait = p.Do(ctx, "WAIT", cl.cfg.Replicas, timeout.Milliseconds())
		}
		return cmds
	}
	p := cl.rdb.Pipeline()
	cmds := run(p)
	_, err := p.Exec(ctx)
	if err != nil && isNoScript(err) {
		// Redis lost the script (a restart this node has not noticed):
		// load it and send the pipeline again. Scripts Redis refused
		// with NOSCRIPT did not run; those with a message id are
		// deduplicated anyway.
		if lerr := publishScript.Load(ctx, cl.rdb).Err(); lerr == nil {
			p = cl.rdb.Pipeline()
			cmds = run(p)
			_, _ = p.Exec(ctx) // each command carries its own error
		}
	}
	var short error // fewer replicas than Config.Replicas have the writes
	if wait != nil {
		if n, werr := wait.Int64(); werr != nil {
			short = fmt.Errorf("%w: %v", ErrUnavailable, werr)
		} else if n < int64(cl.cfg.Replicas) {
			short = fmt.Errorf("%w: %d of %d within %v", ErrReplicas, n, cl.cfg.Replicas, timeout.Round(time.Millisecond))
		}
	}
	for i, c := range cmds {
		res, cerr := c.Slice()
		if cerr != nil {
			cl.failed(cerr)
			cl.unavailable.Add(1)
			out[i].Err = fmt.Errorf("%w: %v", ErrUnavailable, cerr)
			continue
		}
		out[i].Result = cl.result(ms[i], prs[i], res)
		if short != nil {
			if errors.Is(short, ErrReplicas) {
				cl.unreplicated.Add(1)
			}
			out[i] = wire.Pushed{Err: short}
		}
	}
}

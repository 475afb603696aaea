package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wspush/wspush/server/internal/wire"
)

// Coalescing (issue 20): API pushes, publishes and broadcasts that arrive
// together go to Redis together. Each call hands its message to one of a
// few senders and waits for its own answer; a sender takes every message
// waiting, up to maxPipeline calls and maxPipelineUsers users, and runs
// their scripts in one pipeline (on
// Redis Cluster, one script per partition of each, go-redis sending each
// primary its share at once). Under load a round trip thus carries many
// calls, which costs Redis one read and one write for all of them rather
// than one each; a lone call still takes one round trip. What waits is
// bounded by Config.MaxQueue, past which a call is refused with ErrBusy
// (503 busy, Retry-After): it was not published. A call whose deadline
// ends while it waits is answered ErrUnavailable and, if no sender took
// it yet, never runs. --redis-replicas calls are not coalesced: their
// WAIT must follow their own script on one connection.

// senders is how many pipelines of API calls may be in flight at once.
const senders = 8

// maxPipelineUsers caps the work of one pipeline of API calls: a sender
// stops taking calls once their users (a room publish or a broadcast
// counts one) add up to it, so that one round trip stays well within a
// call's bound even for pushes to many users each.
const maxPipelineUsers = 1024

func (c *call) weight() int { return max(1, len(c.m.users)) }

// call is one API call waiting for a sender.
type call struct {
	ctx  context.Context
	m    msg
	done chan callResult // buffered: a sender never waits for the caller
}

type callResult struct {
	res wire.PushResult
	err error
}

// submit hands m to a sender and waits for its answer, at most until ctx
// ends.
func (cl *Cluster) submit(ctx context.Context, m msg) (wire.PushResult, error) {
	c := &call{ctx: ctx, m: m, done: make(chan callResult, 1)}
	select {
	case cl.calls <- c:
	default:
		cl.dropped.Add(1)
		return wire.PushResult{}, ErrBusy
	}
	select {
	case r := <-c.done:
		return r.res, r.err
	case <-ctx.Done():
		cl.unavailable.Add(1)
		return wire.PushResult{}, fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
	}
}

// sender is one of the goroutines that send the waiting calls.
func (cl *Cluster) sender() {
	defer cl.wg.Done()
	batch := make([]*call, 0, maxPipeline)
	for {
		select {
		case <-cl.stop:
			return
		case c := <-cl.calls:
			batch = append(batch[:0], c)
			users := c.weight()
		fill:
			for len(batch) < maxPipeline && users < maxPipelineUsers {
				select {
				case c := <-cl.calls:
					batch = append(batch, c)
					users += c.weight()
				default:
					break fill
				}
			}
			cl.sendCalls(batch)
			clear(batch)
		}
	}
}

// sendCalls runs the scripts of the calls in batch that still wait in one
// pipeline and answers each.
func (cl *Cluster) sendCalls(batch []*call) {
	live := batch[:0:0]
	for _, c := range batch {
		if c.ctx.Err() != nil {
			continue // its caller has its answer already; it never runs
		}
		if !cl.up.Load() {
			cl.unavailable.Add(1)
			c.done <- callResult{err: ErrUnavailable}
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	// The pipeline's bound: the latest deadline of its calls, at most
	// redisWait; each caller stops waiting at its own.
	var deadline time.Time
	for _, c := range live {
		if dl, ok := c.ctx.Deadline(); ok && dl.After(deadline) {
			deadline = dl
		}
	}
	if deadline.IsZero() || time.Until(deadline) > redisWait {
		deadline = time.Now().Add(redisWait)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	parts := make([][]prepared, len(live))
	var all []prepared
	for i, c := range live {
		parts[i] = cl.prepareParts(c.m)
		all = append(all, parts[i]...)
	}
	var outs [][]any
	var errs []error
	if cl.lay.sharded() {
		outs, errs = cl.runParts(ctx, all)
	} else {
		outs, errs = cl.runScripts(ctx, all)
	}
	k := 0
	for i, c := range live {
		var err error
		for range parts[i] {
			if errs[k] != nil && err == nil {
				err = errs[k]
			}
			k++
		}
		if err != nil {
			cl.failed(err)
			cl.unavailable.Add(1)
			c.done <- callResult{err: fmt.Errorf("%w: %v", ErrUnavailable, err)}
			continue
		}
		ps, os := parts[i], outs[k-len(parts[i]):k]
		if cl.lay.sharded() {
			c.done <- callResult{res: cl.merge(c.m, ps, os)}
		} else {
			c.done <- callResult{res: cl.result(c.m, ps[0], os[0])}
		}
	}
}

// runScripts runs publishScript for each of prs in one pipeline on one
// Redis and returns each answer or error. A Redis that lost the script
// (restarted) gets it again, and the pipeline again: scripts refused with
// NOSCRIPT did not run.
func (cl *Cluster) runScripts(ctx context.Context, prs []prepared) ([][]any, []error) {
	cmds := pipeScripts(ctx, cl.rdb, publishScript, prs)
	outs := make([][]any, len(prs))
	errs := make([]error, len(prs))
	for i, c := range cmds {
		outs[i], errs[i] = c.Slice()
	}
	return outs, errs
}

// pipeScripts runs script for each of prs in one pipeline through c. Those
// Redis refused with NOSCRIPT (a restarted or promoted Redis: they did not
// run) are sent again, alone, once the script is loaded; the others are
// never sent twice.
func pipeScripts(ctx context.Context, c redis.Cmdable, script *redis.Script, prs []prepared) []*redis.Cmd {
	run := func(idx []int) []*redis.Cmd {
		cmds := make([]*redis.Cmd, len(idx))
		_, _ = c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for k, i := range idx {
				cmds[k] = script.EvalSha(ctx, p, prs[i].keys, prs[i].args...)
			}
			return nil
		})
		return cmds
	}
	all := make([]int, len(prs))
	for i := range all {
		all[i] = i
	}
	cmds := run(all)
	var again []int
	for i, cmd := range cmds {
		if isNoScript(cmd.Err()) {
			again = append(again, i)
		}
	}
	if len(again) > 0 && script.Load(ctx, c).Err() == nil {
		for k, cmd := range run(again) {
			cmds[again[k]] = cmd
		}
	}
	return cmds
}

package cluster

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/wspush/wspush/server/internal/receipt"
	"github.com/wspush/wspush/server/internal/wire"
)

// A cluster's delivery receipts live in Redis, so that an acknowledgement
// reaching any node counts, and so that they outlive the node that took
// the push (as the history does: with Redis's persistence). Every key
// shares the hash tag {rc}, so that each script touches one slot, Redis
// Cluster included:
//
//	wspush:{rc}:m:ID     hash: "d" the data, "dl" the deadline (ms),
//	                     "u:USER" the user's state: "0" pending, "MS"
//	                     received then, "-MS" undelivered then;
//	                     expiring at the deadline plus receipt.Config.Keep
//	wspush:{rc}:due      sorted set: ID -> deadline, the receipts pending
//	wspush:{rc}:pending  the pending receipts of the whole cluster, the cap's count
//
// Each node's clock takes what came due from wspush:{rc}:due; the script
// that finishes a message removes it from there first, so that one node
// alone tells the webhook, once. Acknowledgements queue on the loops and
// go to Redis from a goroutine, many in one pipeline.
const (
	keyReceipt   = "wspush:{rc}:m:"
	keyDue       = "wspush:{rc}:due"
	keyPendingRc = "wspush:{rc}:pending"
	// maxAckQueue caps the acknowledgements waiting for Redis; past it
	// they are dropped and counted, and their receipts time out.
	maxAckQueue = 4096
	// maxDue caps the messages one round of a tick finishes, and
	// maxDueRounds the rounds of one tick: up to 4,096 messages a tick
	// per node, the rest at the next.
	maxDue       = 256
	maxDueRounds = 16
	// hsetChunk caps the fields of one HSET in the begin script (Lua's
	// unpack has a stack limit).
	hsetChunk = 500
)

// beginScript starts one message's receipts. KEYS: the message, due,
// pending. ARGV: max, deadline ms, ttl ms, data, id, users... It answers
// 1 started, 0 there already (a retry), -1 over the cap.
var beginScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local n = #ARGV - 5
local p = tonumber(redis.call('GET', KEYS[3]) or '0')
if p + n > tonumber(ARGV[1]) then return -1 end
redis.call('HSET', KEYS[1], 'd', ARGV[4], 'dl', ARGV[2])
local f = {}
for i = 6, #ARGV do
  f[#f+1] = 'u:' .. ARGV[i]
  f[#f+1] = '0'
  if #f >= ` + strconv.Itoa(2*hsetChunk) + ` then
    redis.call('HSET', KEYS[1], unpack(f))
    f = {}
  end
end
if #f > 0 then redis.call('HSET', KEYS[1], unpack(f)) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[5])
redis.call('INCRBY', KEYS[3], n)
return 1
`)

// ackScript applies one user's acknowledgement. KEYS: the messages...,
// pending. ARGV: the user's field, now ms. It answers the indexes (from
// 1) of the messages whose receipt it turned received: only a field that
// exists and is pending changes, so an id of another user's message, or
// of none, changes nothing.
var ackScript = redis.NewScript(`
local out = {}
for i = 1, #KEYS - 1 do
  if redis.call('HGET', KEYS[i], ARGV[1]) == '0' then
    redis.call('HSET', KEYS[i], ARGV[1], ARGV[2])
    out[#out+1] = i
  end
end
if #out > 0 then redis.call('DECRBY', KEYS[#KEYS], #out) end
return out
`)

// finishScript gives up a message's pending receipts at its deadline.
// KEYS: due, the message, pending. ARGV: id, now ms. It answers nothing
// when another node took it first, else the data and the users who had
// not acknowledged.
var finishScript = redis.NewScript(`
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return false end
local all = redis.call('HGETALL', KEYS[2])
local out = {''}
for i = 1, #all, 2 do
  local f = all[i]
  if f == 'd' then
    out[1] = all[i+1]
  elseif string.sub(f, 1, 2) == 'u:' and all[i+1] == '0' then
    out[#out+1] = string.sub(f, 3)
    redis.call('HSET', KEYS[2], f, '-' .. ARGV[2])
  end
end
if #out > 1 then redis.call('DECRBY', KEYS[3], #out - 1) end
return out
`)

// Receipts keeps a cluster's receipts in Redis. Its methods are safe for
// any goroutine; Ack, called on the event loops, only queues.
type Receipts struct {
	cl   *Cluster
	rdb  *redis.Client
	cfg  receipt.Config
	c    receipt.Counters
	acks chan ack

	startOnce, closeOnce sync.Once
	quit                 chan struct{}
	wg                   sync.WaitGroup
}

// ack is one connection's acknowledgement, copied off the loop.
type ack struct {
	user string
	ids  []string
}

// Receipts returns the cluster's receipts for cfg, not yet running
// (Start).
func (cl *Cluster) Receipts(cfg receipt.Config) *Receipts {
	cfg = cfg.WithDefaults()
	r := &Receipts{cl: cl, rdb: cl.rdb, cfg: cfg, acks: make(chan ack, maxAckQueue), quit: make(chan struct{})}
	r.c.Max.Store(int64(cfg.Max))
	return r
}

// Begin starts the receipts of starts in one pipeline and says for each
// nil, wire.ErrReceiptsFull, or ErrUnavailable.
func (r *Receipts) Begin(ctx context.Context, starts []wire.ReceiptStart) []error {
	errs := make([]error, len(starts))
	if len(starts) == 0 {
		return errs
	}
	if !r.cl.up.Load() {
		for i := range errs {
			errs[i] = ErrUnavailable
		}
		return errs
	}
	now := r.cfg.Now()
	cmds, err := r.pipeline(ctx, beginScript, len(starts), func(i int) ([]string, []any) {
		st := starts[i]
		dl := now.Add(st.Timeout)
		args := make([]any, 0, 5+len(st.Users))
		args = append(args, r.cfg.Max, dl.UnixMilli(), (st.Timeout + r.cfg.Keep).Milliseconds(), string(st.Data), st.ID)
		for _, u := range st.Users {
			args = append(args, u)
		}
		return []string{keyReceipt + st.ID, keyDue, keyPendingRc}, args
	})
	for i := range starts {
		if err == nil {
			var n int64
			n, err = cmds[i].Int64()
			if err == nil {
				if n < 0 {
					r.c.Refused.Add(1)
					errs[i] = wire.ErrReceiptsFull
				}
				continue
			}
		}
		errs[i] = fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if err != nil {
		r.cl.failed(err)
	}
	return errs
}

// pipeline runs script n times in one pipeline, with the keys and
// arguments args(i) gives, loading the script once if Redis lost it.
func (r *Receipts) pipeline(ctx context.Context, script *redis.Script, n int, args func(i int) ([]string, []any)) ([]*redis.Cmd, error) {
	ctx, cancel := context.WithTimeout(ctx, redisWait)
	defer cancel()
	run := func() ([]*redis.Cmd, error) {
		p := r.rdb.Pipeline()
		cmds := make([]*redis.Cmd, n)
		for i := range n {
			keys, a := args(i)
			cmds[i] = script.EvalSha(ctx, p, keys, a...)
		}
		_, err := p.Exec(ctx)
		return cmds, err
	}
	cmds, err := run()
	if err != nil && isNoScript(err) {
		if lerr := script.Load(ctx, r.rdb).Err(); lerr == nil {
			cmds, err = run()
		}
	}
	if err == redis.Nil {
		err = nil // a script answered nil (finishScript: taken)
	}
	return cmds, err
}

// Ack queues user's acknowledgement of ids for Redis; past maxAckQueue
// it is dropped and counted. It runs on an event loop and never blocks;
// ids is copied.
func (r *Receipts) Ack(user string, ids []string) int {
	select {
	case r.acks <- ack{user: user, ids: append([]string(nil), ids...)}:
		return len(ids)
	default:
		r.c.Dropped.Add(1)
		return 0
	}
}

// Status reads message id's receipt from Redis.
func (r *Receipts) Status(ctx context.Context, id string) (wire.Receipt, error) {
	ctx, cancel := context.WithTimeout(ctx, redisWait)
	defer cancel()
	all, err := r.rdb.HGetAll(ctx, keyReceipt+id).Result()
	if err != nil {
		r.cl.failed(err)
		return wire.Receipt{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if len(all) == 0 {
		return wire.Receipt{}, wire.ErrNoReceipt
	}
	rc := wire.Receipt{ID: id}
	rc.Deadline, _ = strconv.ParseInt(all["dl"], 10, 64)
	for f, v := range all {
		user, ok := strings.CutPrefix(f, "u:")
		if !ok {
			continue
		}
		at, _ := strconv.ParseInt(v, 10, 64)
		u := wire.UserReceipt{User: user, State: wire.ReceiptPending}
		switch {
		case at > 0:
			u.State, u.At = wire.ReceiptReceived, at
		case at < 0:
			u.State, u.At = wire.ReceiptUndelivered, -at
		}
		rc.Users = append(rc.Users, u)
	}
	sortUsers(rc.Users)
	rc.Count()
	return rc, nil
}

// Start runs the clock (expiry) and the acknowledgements' sender.
func (r *Receipts) Start() {
	r.startOnce.Do(func() {
		r.wg.Add(2)
		go r.clock()
		go r.sender()
	})
}

// Close stops both, dropping the acknowledgements still queued (their
// receipts time out on a node still running).
func (r *Receipts) Close() {
	r.closeOnce.Do(func() {
		close(r.quit)
		r.wg.Wait()
	})
}

// Collector returns the receipts' metrics.
func (r *Receipts) Collector() prometheus.Collector { return r.c.Collector() }

// sender sends the queued acknowledgements, all those waiting at once in
// one pipeline.
func (r *Receipts) sender() {
	defer r.wg.Done()
	batch := make([]ack, 0, maxPipeline)
	for {
		select {
		case <-r.quit:
			return
		case a := <-r.acks:
			batch = append(batch[:0], a)
		fill:
			for len(batch) < maxPipeline {
				select {
				case a := <-r.acks:
					batch = append(batch, a)
				default:
					break fill
				}
			}
			r.sendAcks(batch)
			clear(batch)
		}
	}
}

// sendAcks applies batch in Redis and tells Config.Received of what
// changed.
func (r *Receipts) sendAcks(batch []ack) {
	now := r.cfg.Now().UnixMilli()
	cmds, err := r.pipeline(context.Background(), ackScript, len(batch), func(i int) ([]string, []any) {
		keys := make([]string, 0, len(batch[i].ids)+1)
		for _, id := range batch[i].ids {
			keys = append(keys, keyReceipt+id)
		}
		return append(keys, keyPendingRc), []any{"u:" + batch[i].user, now}
	})
	if err != nil {
		r.cl.failed(err)
		for _, a := range batch {
			r.c.Dropped.Add(int64(len(a.ids)))
		}
		return
	}
	for i, c := range cmds {
		done, err := c.Int64Slice()
		if err != nil {
			r.c.Dropped.Add(int64(len(batch[i].ids)))
			continue
		}
		r.c.Acked(len(done), len(batch[i].ids)-len(done))
		if r.cfg.Received != nil {
			for _, k := range done {
				r.cfg.Received(batch[i].ids[k-1], batch[i].user)
			}
		}
	}
}

// clock finishes what came due every Config.Tick, and reads the
// cluster's pending count for the gauge.
func (r *Receipts) clock() {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-r.quit:
			return
		case <-t.C:
			r.expireDue()
		}
	}
}

// expireDue finishes what came due, maxDue messages at a time, at most
// maxDueRounds times.
func (r *Receipts) expireDue() {
	for range maxDueRounds {
		if !r.cl.up.Load() || r.Expire(r.cfg.Now()) < maxDue {
			return
		}
	}
}

// Expire finishes the messages whose deadline passed by now (at most
// maxDue of them): those this node took first go to
// Config.Undelivered. It returns how many came due.
func (r *Receipts) Expire(now time.Time) int {
	ctx, cancel := context.WithTimeout(context.Background(), redisWait)
	defer cancel()
	ms := now.UnixMilli()
	if n, err := r.rdb.Get(ctx, keyPendingRc).Int64(); err == nil || err == redis.Nil {
		r.c.Pending.Store(n)
	}
	ids, err := r.rdb.ZRangeByScore(ctx, keyDue, &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(ms, 10), Count: maxDue}).Result()
	if err != nil || len(ids) == 0 {
		return 0
	}
	cmds, err := r.pipeline(ctx, finishScript, len(ids), func(i int) ([]string, []any) {
		return []string{keyDue, keyReceipt + ids[i], keyPendingRc}, []any{ids[i], ms}
	})
	if err != nil {
		r.cl.failed(err)
		return 0
	}
	for i, c := range cmds {
		out, err := c.StringSlice()
		if err != nil || len(out) < 2 {
			continue // another node took it, or nobody was pending
		}
		users := out[1:]
		r.c.Undelivered.Add(int64(len(users)))
		if r.cfg.Undelivered != nil {
			r.cfg.Undelivered(ids[i], users, []byte(out[0]))
		}
	}
	return len(ids)
}

// sortUsers sorts receipts by user.
func sortUsers(us []wire.UserReceipt) {
	slices.SortFunc(us, func(a, b wire.UserReceipt) int { return strings.Compare(a.User, b.User) })
}

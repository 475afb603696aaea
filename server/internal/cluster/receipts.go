package cluster

import (
	"context"
	"errors"
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
//	wspush:{rc}:r:KEY    hash: "i" the message's id, "d" the data, "dl" the
//	                     deadline (ms), "u:USER" the user's state: "0"
//	                     pending, "MS" received then, "-MS" undelivered
//	                     then; expiring at the deadline plus
//	                     receipt.Config.Keep
//	wspush:{rc}:m:ID     the message's receipt KEY (what the envelope
//	                     carries and clients acknowledge), as long
//	wspush:{rc}:due      sorted set: KEY -> deadline, the receipts pending
//	wspush:{rc}:pending  the pending receipts of the whole cluster, the cap's count
//
// Each node's clock takes what came due from wspush:{rc}:due; the script
// that finishes a message removes it from there first, so that one node
// alone tells the webhook, once. Acknowledgements queue on the loops and
// go to Redis from a goroutine, many in one pipeline.
const (
	keyReceipt   = "wspush:{rc}:r:"
	keyReceiptID = "wspush:{rc}:m:"
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

// beginScript starts one message's receipts. KEYS: the id's, the key's
// hash, due, pending. ARGV: max, deadline ms, ttl ms, data, id, key,
// users... It answers {1, key} started, {0, key} there already under key
// (a retry), {-1, ""} over the cap.
var beginScript = redis.NewScript(`
local old = redis.call('GET', KEYS[1])
if old then return {0, old} end
local n = #ARGV - 6
local p = tonumber(redis.call('GET', KEYS[4]) or '0')
if p + n > tonumber(ARGV[1]) then return {-1, ''} end
redis.call('HSET', KEYS[2], 'i', ARGV[5], 'd', ARGV[4], 'dl', ARGV[2])
local f = {}
for i = 7, #ARGV do
  f[#f+1] = 'u:' .. ARGV[i]
  f[#f+1] = '0'
  if #f >= ` + strconv.Itoa(2*hsetChunk) + ` then
    redis.call('HSET', KEYS[2], unpack(f))
    f = {}
  end
end
if #f > 0 then redis.call('HSET', KEYS[2], unpack(f)) end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], ARGV[6], 'PX', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[6])
redis.call('INCRBY', KEYS[4], n)
return {1, ARGV[6]}
`)

// ackScript applies one user's acknowledgement. KEYS: the keys'
// hashes..., pending. ARGV: the user's field, now ms. It answers the ids
// of the messages whose receipt it turned received: only a field that
// exists and is pending changes, so a key of another user's message, or
// of none (a message's id, which a client may guess, is not its key),
// changes nothing.
var ackScript = redis.NewScript(`
local out = {}
for i = 1, #KEYS - 1 do
  if redis.call('HGET', KEYS[i], ARGV[1]) == '0' then
    redis.call('HSET', KEYS[i], ARGV[1], ARGV[2])
    out[#out+1] = redis.call('HGET', KEYS[i], 'i')
  end
end
if #out > 0 then redis.call('DECRBY', KEYS[#KEYS], #out) end
return out
`)

// finishScript gives up a message's pending receipts at its deadline.
// KEYS: due, the key's hash, pending. ARGV: key, now ms. It answers
// nothing when another node took it first, else the data, the id and
// the users who had not acknowledged.
var finishScript = redis.NewScript(`
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return false end
local all = redis.call('HGETALL', KEYS[2])
local out = {'', ''}
for i = 1, #all, 2 do
  local f = all[i]
  if f == 'd' then
    out[1] = all[i+1]
  elseif f == 'i' then
    out[2] = all[i+1]
  elseif string.sub(f, 1, 2) == 'u:' and all[i+1] == '0' then
    out[#out+1] = string.sub(f, 3)
    redis.call('HSET', KEYS[2], f, '-' .. ARGV[2])
  end
end
if #out > 2 then redis.call('DECRBY', KEYS[3], #out - 2) end
return out
`)

// Receipts keeps a cluster's receipts in Redis. Its methods are safe for
// any goroutine; Ack, called on the event loops, only queues.
type Receipts struct {
	cl   *Cluster
	rdb  redis.UniversalClient
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
	keys []string
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
// nil, wire.ErrReceiptsFull, or ErrUnavailable; a start whose id has
// receipts already gets their Key.
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
		args := make([]any, 0, 6+len(st.Users))
		args = append(args, r.cfg.Max, dl.UnixMilli(), (st.Timeout + r.cfg.Keep).Milliseconds(), string(st.Data), st.ID, st.Key)
		for _, u := range st.Users {
			args = append(args, u)
		}
		return []string{keyReceiptID + st.ID, keyReceipt + st.Key, keyDue, keyPendingRc}, args
	})
	if err != nil {
		r.cl.failed(err)
	}
	for i := range starts {
		out, cerr := cmds[i].Slice()
		if cerr == nil && len(out) == 2 {
			n, _ := out[0].(int64)
			key, _ := out[1].(string)
			if n < 0 {
				r.c.Refused.Add(1)
				errs[i] = wire.ErrReceiptsFull
			} else {
				starts[i].Key = key
			}
			continue
		}
		if cerr == nil {
			cerr = fmt.Errorf("the begin script answered %v", out)
		}
		errs[i] = fmt.Errorf("%w: %v", ErrUnavailable, cerr)
	}
	return errs
}

// pipeline runs script n times in one pipeline, with the keys and
// arguments args(i) gives, loading the script once if Redis lost it. Its
// error says Redis did not answer (the caller marks it down); what one
// script answered, an error of Redis's own included, is in its Cmd.
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
	var reply redis.Error
	if errors.As(err, &reply) {
		err = nil // Redis answered: nil (finishScript: taken), or an error of one script
	}
	return cmds, err
}

// Ack queues user's acknowledgement of keys for Redis; past
// maxAckQueue it is dropped and counted. It runs on an event loop and
// never blocks; keys is copied.
func (r *Receipts) Ack(user string, keys []string) int {
	select {
	case r.acks <- ack{user: user, keys: append([]string(nil), keys...)}:
		return len(keys)
	default:
		r.c.Dropped.Add(1)
		return 0
	}
}

// Status reads message id's receipt from Redis.
func (r *Receipts) Status(ctx context.Context, id string) (wire.Receipt, error) {
	ctx, cancel := context.WithTimeout(ctx, redisWait)
	defer cancel()
	key, err := r.rdb.Get(ctx, keyReceiptID+id).Result()
	if err == redis.Nil {
		return wire.Receipt{}, wire.ErrNoReceipt
	}
	var all map[string]string
	if err == nil {
		all, err = r.rdb.HGetAll(ctx, keyReceipt+key).Result()
	}
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
		keys := make([]string, 0, len(batch[i].keys)+1)
		for _, k := range batch[i].keys {
			keys = append(keys, keyReceipt+k)
		}
		return append(keys, keyPendingRc), []any{"u:" + batch[i].user, now}
	})
	if err != nil {
		r.cl.failed(err)
		for _, a := range batch {
			r.c.Dropped.Add(int64(len(a.keys)))
		}
		return
	}
	for i, c := range cmds {
		done, err := c.StringSlice()
		if err != nil {
			r.c.Dropped.Add(int64(len(batch[i].keys)))
			continue
		}
		r.c.Acked(len(done), len(batch[i].keys)-len(done))
		if r.cfg.Received != nil {
			for _, id := range done {
				r.cfg.Received(id, batch[i].user)
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
	keys, err := r.rdb.ZRangeByScore(ctx, keyDue, &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(ms, 10), Count: maxDue}).Result()
	if err != nil || len(keys) == 0 {
		return 0
	}
	cmds, err := r.pipeline(ctx, finishScript, len(keys), func(i int) ([]string, []any) {
		return []string{keyDue, keyReceipt + keys[i], keyPendingRc}, []any{keys[i], ms}
	})
	if err != nil {
		r.cl.failed(err)
		return 0
	}
	for _, c := range cmds {
		out, err := c.StringSlice()
		if err != nil || len(out) < 3 {
			continue // another node took it, or nobody was pending
		}
		users := out[2:]
		r.c.Undelivered.Add(int64(len(users)))
		if r.cfg.Undelivered != nil {
			r.cfg.Undelivered(out[1], users, []byte(out[0]))
		}
	}
	return len(keys)
}

// sortUsers sorts receipts by user.
func sortUsers(us []wire.UserReceipt) {
	slices.SortFunc(us, func(a, b wire.UserReceipt) int { return strings.Compare(a.User, b.User) })
}

package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/wire"
)

// publishScript hands out the next position, keeps the message in its
// streams and publishes it, at most once per message id.
//
// KEYS: keyPos, the id's dedup key ("" for none: the message is not
// deduplicated), keyNodes, keySince, then the streams. ARGV: max length,
// TTL in ms, the envelope's head and tail (the position goes between
// them), "1" if the envelope carries the position, the dedup key's TTL in
// ms, the number of user channels that lead the channel list, the node
// timeout in ms, "1" if the message is the backend's, then the channels,
// in the order of the streams.
//
// A message is kept only in the streams of those who can read it: a user
// whose presence hash exists (connected, or gone for less than the grace
// and the history's TTL), a room the PUBLISH reached or the backend
// publishes to; everything is kept while Redis is not settled (presence
// may not be written again yet).
//
// It returns {position, settled, then per channel: the subscribers the
// PUBLISH reached, and for user channels whether a node alive holds the
// user's presence}; or {position, "dup"} when the id was seen already, and
// then publishes nothing. settled is 1 once this Redis has kept state for
// longer than the node timeout, so that presence in it can be believed.
var publishScript = redis.NewScript(`
if KEYS[2] ~= '' then
  local prev = redis.call('GET', KEYS[2])
  if prev then return {prev, 'dup'} end
end
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local seq = 0
local last = redis.call('GET', KEYS[1])
if last then
  local lms, lseq = string.match(last, '^(%d+)-(%d+)$')
  lms = tonumber(lms)
  if ms <= lms then
    ms = lms
    seq = tonumber(lseq) + 1
    if seq >= 1048576 then ms = ms + 1; seq = 0 end
  end
end
local id = string.format('%d-%d', ms, seq)
redis.call('SET', KEYS[1], id)
if redis.call('EXISTS', KEYS[4]) == 0 then
  -- A Redis that has just (re)started empty: its history starts here.
  redis.call('SET', KEYS[4], string.format('%d-%d', ms - 1, 1048575))
end
if KEYS[2] ~= '' then redis.call('SET', KEYS[2], id, 'PX', ARGV[6]) end
local settled = 0
local since = redis.call('GET', KEYS[4])
if since then
  local sms = tonumber(string.match(since, '^(%d+)'))
  if sms and ms - sms > tonumber(ARGV[8]) then settled = 1 end
end
local env = ARGV[3]
if ARGV[5] == '1' then env = ARGV[3] .. id .. ARGV[4] end
local msg = id .. ' ' .. env
local users = tonumber(ARGV[7])
local counts = {}
for i = 10, #ARGV do counts[#counts + 1] = redis.call('PUBLISH', ARGV[i], msg) end
for i = 5, #KEYS do
  local k = i - 4
  local keep = settled == 0
  if not keep then
    if k <= users then
      keep = redis.call('EXISTS', 'wspush:p:' .. string.sub(ARGV[9 + k], 10)) == 1
    else
      keep = ARGV[9] == '1' or counts[k] > 0
    end
  end
  if keep then
    redis.call('XADD', KEYS[i], 'MAXLEN', ARGV[1], id, 'm', env)
    redis.call('XTRIM', KEYS[i], 'MINID', string.format('%d', ms - tonumber(ARGV[2])))
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
  end
end
local res = {id, settled}
for i = 10, #ARGV do
  res[#res + 1] = counts[i - 9]
  if i - 9 <= users then
    local here = 0
    local nodes = redis.call('HKEYS', 'wspush:p:' .. string.sub(ARGV[i], 10))
    for _, n in ipairs(nodes) do
      if n ~= 'seen' then
        local beat = redis.call('ZSCORE', KEYS[3], n)
        if beat and ms - tonumber(beat) < tonumber(ARGV[8]) then here = 1 end
      end
    end
    res[#res + 1] = here
  end
end
return res
`)

// ErrUnavailable is returned when Redis cannot take a message: it is down,
// or did not answer in time. The message may or may not have been stored
// (a timeout): a retry with the same id is published at most once.
var ErrUnavailable = fmt.Errorf("cluster: %w", wire.ErrUnavailable)

// dedupTTL is how long a message id is remembered: a retry within it is
// not published again.
const dedupTTL = 10 * time.Minute

// Push publishes data to users through Redis and waits for the answer, at
// most 2 s (less if ctx ends first). id, when not empty, makes the call
// idempotent: a retry with the same id within 10 minutes publishes
// nothing. from, when set, is the sending user.
func (cl *Cluster) Push(ctx context.Context, id string, users []string, data json.RawMessage, from string) (wire.PushResult, error) {
	return cl.send(ctx, msg{kind: kindPush, id: id, envID: id, users: users, data: data, from: from})
}

// Publish publishes data to room through Redis and waits, as Push.
func (cl *Cluster) Publish(ctx context.Context, id, room string, data json.RawMessage, from string) (wire.PushResult, error) {
	return cl.send(ctx, msg{kind: kindPublish, id: id, envID: id, room: room, data: data, from: from})
}

// Broadcast publishes data to everyone through Redis and waits, as Push.
func (cl *Cluster) Broadcast(ctx context.Context, id string, data json.RawMessage) (wire.PushResult, error) {
	return cl.send(ctx, msg{kind: kindBroadcast, id: id, envID: id, data: data})
}

// QueuePublish hands a client's publish to room to the publisher. It runs
// on a loop and never blocks: data is copied. It refuses the message with
// ErrUnavailable while Redis is down and with ErrBusy past Config.MaxQueue
// waiting messages; once taken, the message is published exactly once,
// retried with its id while Redis comes back, for up to 10 s.
func (cl *Cluster) QueuePublish(room string, data []byte, from string) error {
	return cl.queue(msg{kind: kindPublish, room: room, data: append(json.RawMessage(nil), data...), from: from})
}

// QueuePush hands a client's send to user to the publisher, as
// QueuePublish.
func (cl *Cluster) QueuePush(to string, data []byte, from string) error {
	return cl.queue(msg{kind: kindPush, users: []string{to}, data: append(json.RawMessage(nil), data...), from: from})
}

// ErrBusy is returned when the queue of client publishes is full.
var ErrBusy = fmt.Errorf("cluster: too many messages waiting for Redis: %w", wire.ErrBusy)

func (cl *Cluster) queue(m msg) error {
	if !cl.up.Load() {
		cl.unavailable.Add(1)
		return ErrUnavailable
	}
	m.id = cl.node + ":" + strconv.FormatUint(cl.seq.Add(1), 36)
	select {
	case cl.sends <- m:
		cl.queued.Add(1)
		return nil
	default:
		cl.dropped.Add(1)
		return ErrBusy
	}
}

// maxPipeline caps the client publishes sent to Redis in one round trip.
const maxPipeline = 128

// retryFor bounds how long the publisher retries what it took.
const retryFor = 10 * time.Second

// publisher sends the client publishes, all those waiting at once in one
// pipeline, so that many are in flight in one round trip.
func (cl *Cluster) publisher() {
	defer cl.wg.Done()
	batch := make([]msg, 0, maxPipeline)
	for {
		select {
		case <-cl.stop:
			return
		case m := <-cl.sends:
			batch = append(batch[:0], m)
		fill:
			for len(batch) < maxPipeline {
				select {
				case m := <-cl.sends:
					batch = append(batch, m)
				default:
					break fill
				}
			}
			cl.queued.Add(-int64(len(batch)))
			cl.sendBatch(batch)
			clear(batch)
		}
	}
}

// prepared is a message ready for the publish script: on Redis Cluster,
// the part of it for one partition (shards.go).
type prepared struct {
	keys       []string
	args       []any
	users      int      // the user channels that lead the channel list
	names      []string // those users
	head, tail []byte
	withPos    bool
	part       int // the partition (Redis Cluster)
}

// envelope builds m's envelope: its head and tail, between which Redis
// puts the position when withPos.
func (cl *Cluster) envelope(m msg) (head, tail []byte, withPos bool) {
	withPos = cl.History() && m.kind != kindBroadcast
	var n uint64
	if m.envID == "" {
		n = cl.eng.NextID() // "mN", one of this node's
	}
	head = wire.AppendPushHead(nil, n, m.envID)
	ts := time.Now().UnixMilli()
	if withPos {
		head = append(head, `,"pos":"`...)
		tail = wire.AppendPushTail([]byte{'"'}, m.data, m.room, m.from, ts)
	} else {
		head = wire.AppendPushTail(head, m.data, m.room, m.from, ts)
	}
	return head, tail, withPos
}

// prepare builds the script's keys and arguments for m on one Redis.
func (cl *Cluster) prepare(m msg) prepared {
	pr := prepared{names: m.users}
	var channels, streams []string
	switch m.kind {
	case kindBroadcast:
		channels = []string{cl.lay.broadcastCh()}
	case kindPublish:
		streams, channels = []string{cl.lay.streamKey(history.RoomStream(m.room))}, []string{cl.lay.roomCh(m.room)}
	default:
		for _, u := range m.users {
			streams = append(streams, cl.lay.streamKey(history.UserStream(u)))
			channels = append(channels, cl.lay.userCh(u))
		}
		pr.users = len(m.users)
	}
	pr.head, pr.tail, pr.withPos = cl.envelope(m)
	if !pr.withPos {
		streams = nil
	}
	dedup := ""
	if m.id != "" {
		dedup = cl.lay.dedupKey(0, m.id)
	}
	pr.keys = append([]string{cl.lay.posKey(0), dedup, cl.lay.nodesKey(), cl.lay.sinceKey(0)}, streams...)
	pr.args = []any{cl.cfg.HistorySize, cl.cfg.HistoryTTL.Milliseconds(), pr.head, pr.tail, boolArg(pr.withPos),
		dedupTTL.Milliseconds(), pr.users, nodeTimeout.Milliseconds(), boolArg(m.from == "")}
	for _, ch := range channels {
		pr.args = append(pr.args, ch)
	}
	return pr
}

// send runs the publish script for m and waits for it, at most redisWait.
// When Redis is down or does not answer in time, it says so
// (ErrUnavailable): it never delivers on its own, so every position comes
// from Redis and every message the API acknowledges is in the history.
func (cl *Cluster) send(ctx context.Context, m msg) (wire.PushResult, error) {
	if !cl.up.Load() {
		cl.unavailable.Add(1)
		return wire.PushResult{}, ErrUnavailable
	}
	if err := cl.keepingUp(ctx, 1); err != nil {
		return wire.PushResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, redisWait)
	defer cancel()
	if cl.cfg.Replicas == 0 {
		return cl.submit(ctx, m) // coalesce.go
	}
	if cl.lay.sharded() {
		return cl.sendShardedWait(ctx, m, cl.prepareParts(m))
	}
	pr := cl.prepare(m)
	if cl.cfg.Replicas > 0 {
		return cl.sendWait(ctx, m, pr)
	}
	out, err := publishScript.Run(ctx, cl.rdb, pr.keys, pr.args...).Slice()
	if err != nil {
		cl.failed(err)
		cl.unavailable.Add(1)
		return wire.PushResult{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return cl.result(m, pr, out), nil
}

// DefaultMaxBacklog is Config.MaxBacklog's default: 256 jobs in one
// loop's outbox, a few tens of milliseconds of deliveries (each job is
// one message to its receivers on that loop; docs/benchmarks.md, "Two
// nodes, 100 users per call").
const DefaultMaxBacklog = 256

// ErrBehind is returned while this node's event loops are behind on the
// messages they deliver (Config.MaxBacklog): nothing was published.
var ErrBehind = fmt.Errorf("cluster: this node's event loops are behind on deliveries, nothing was published: %w", wire.ErrBusy)

// behindWait is how long an API call waits for this node's loops to
// catch up before it is refused with ErrBehind, and behindPoll how often
// it looks: a backend that calls back to back is slowed to the pace of
// the deliveries rather than turned away at once.
const (
	behindWait = 200 * time.Millisecond
	behindPoll = 2 * time.Millisecond
)

// keepingUp waits, at most behindWait and never past ctx, while the
// deepest loop outbox is past Config.MaxBacklog, and then refuses n API
// calls with ErrBehind. Messages from Redis are never refused on the way
// in (other nodes answered 200 for them): the bound holds upstream, at
// the API, which is where a backend can wait and retry.
func (cl *Cluster) keepingUp(ctx context.Context, n int) error {
	if cl.eng.Backlog() <= int64(cl.cfg.MaxBacklog) {
		return nil
	}
	t := time.NewTimer(cl.behindWait)
	defer t.Stop()
	tick := time.NewTicker(behindPoll)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if cl.eng.Backlog() <= int64(cl.cfg.MaxBacklog) {
				return nil
			}
			continue
		case <-t.C:
		case <-ctx.Done():
		}
		cl.behind.Add(int64(n))
		return ErrBehind
	}
}

// ErrReplicas is returned, with Config.Replicas, when fewer replicas than
// that acknowledged a message within its deadline.
var ErrReplicas = fmt.Errorf("cluster: %w", wire.ErrReplicas)

// waitMargin is what the deadline of a call leaves to the answer of its
// WAIT, so that a WAIT that times out is told apart from a Redis that
// does not answer.
const waitMargin = 200 * time.Millisecond

// sendWait runs the publish script for m and WAIT, on one connection in
// one round trip, so that the WAIT is for that script's writes: the
// message is answered only once Config.Replicas replicas have it, or
// fails with ErrReplicas when fewer do within ctx's deadline.
func (cl *Cluster) sendWait(ctx context.Context, m msg, pr prepared) (wire.PushResult, error) {
	return cl.sendWaitOn(ctx, cl.rdb, publishScript, m, pr)
}

// sendWaitOn is sendWait through c, with script.
func (cl *Cluster) sendWaitOn(ctx context.Context, c redis.Cmdable, script *redis.Script, m msg, pr prepared) (wire.PushResult, error) {
	timeout := redisWait - waitMargin
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl)-waitMargin)
	}
	timeout = max(timeout, 10*time.Millisecond) // WAIT 0 would wait for ever
	for try := 0; ; try++ {
		var ev *redis.Cmd
		var wt *redis.Cmd
		_, _ = c.Pipelined(ctx, func(p redis.Pipeliner) error {
			ev = script.EvalSha(ctx, p, pr.keys, pr.args...)
			wt = p.Do(ctx, "WAIT", cl.cfg.Replicas, timeout.Milliseconds())
			return nil
		})
		if isNoScript(ev.Err()) && try == 0 {
			if err := script.Load(ctx, c).Err(); err == nil {
				continue
			}
		}
		out, err := ev.Slice()
		if err == nil && script == partScript {
			out = cl.partReply(pr, out)
		}
		n, werr := wt.Int64()
		if err == nil {
			err = werr
		}
		if err != nil {
			cl.failed(err)
			cl.unavailable.Add(1)
			return wire.PushResult{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		res := cl.result(m, pr, out)
		if n < int64(cl.cfg.Replicas) {
			cl.unreplicated.Add(1)
			return wire.PushResult{}, fmt.Errorf("%w: %d of %d within %v", ErrReplicas, n, cl.cfg.Replicas, timeout.Round(time.Millisecond))
		}
		return res, nil
	}
}

// sendBatch publishes client messages in one pipeline, and retries those
// Redis did not take, with their ids, until it takes them or retryFor
// passes; what is left then is dropped and counted.
func (cl *Cluster) sendBatch(batch []msg) {
	if cl.lay.sharded() {
		cl.sendBatchSharded(batch)
		return
	}
	prs := make([]prepared, len(batch))
	for i, m := range batch {
		prs[i] = cl.prepare(m)
	}
	cl.sendRetrying(len(batch), func(left []int) []int { return cl.pipeline(batch, prs, left) })
}

// pipeline sends the messages of batch at indices left in one round trip
// and returns the indices Redis did not take.
func (cl *Cluster) pipeline(batch []msg, prs []prepared, left []int) []int {
	ctx, cancel := context.WithTimeout(context.Background(), redisWait)
	defer cancel()
	cmds := make([]*redis.Cmd, 0, len(left))
	_, err := cl.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, i := range left {
			cmds = append(cmds, publishScript.EvalSha(ctx, p, prs[i].keys, prs[i].args...))
		}
		return nil
	})
	if err != nil && isNoScript(err) {
		// Redis restarted without this node noticing: send one by one,
		// which loads the script again.
		cmds = cmds[:0]
		for _, i := range left {
			cmds = append(cmds, publishScript.Run(ctx, cl.rdb, prs[i].keys, prs[i].args...))
		}
	}
	var again []int
	for k, i := range left {
		if k < len(cmds) {
			if out, err := cmds[k].Slice(); err == nil {
				cl.result(batch[i], prs[i], out)
				continue
			} else {
				cl.failed(err)
			}
		}
		again = append(again, i)
	}
	return again
}

func isNoScript(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") }

// result reads the script's answer for m.
func (cl *Cluster) result(m msg, pr prepared, out []any) wire.PushResult {
	res := wire.PushResult{Online: []string{}, Offline: []string{}, Unknown: []string{}}
	if len(out) == 2 {
		if s, _ := out[1].(string); s == "dup" {
			cl.duplicates.Add(1)
			res.Duplicate = true
			res.Unknown = append(res.Unknown, pr.names...)
			return res
		}
	}
	cl.published.Add(1)
	if s, _ := out[0].(string); s != "" {
		if pos, err := history.ParsePos(s); err == nil {
			cl.observe(pr.part, pos)
		}
	}
	settled, _ := out[1].(int64)
	rest := out[2:]
	for i := range pr.users {
		n, _ := rest[2*i].(int64)
		here, _ := rest[2*i+1].(int64)
		res.Delivered += int(n)
		switch {
		case n > 0:
			res.Online = append(res.Online, pr.names[i])
		case here > 0 && cl.History():
			// Connected, its node not subscribed yet: the node
			// catches up from the stream once it is.
			res.Online = append(res.Online, pr.names[i])
		case here > 0 || settled == 0:
			res.Unknown = append(res.Unknown, pr.names[i])
		default:
			res.Offline = append(res.Offline, pr.names[i])
		}
	}
	for _, n := range rest[2*pr.users:] {
		k, _ := n.(int64)
		res.Delivered += int(k)
	}
	return res
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// sendRetrying hands the n client messages of a batch to send, which
// returns the indexes Redis did not take, until none is left or retryFor
// has passed (backing off while Redis is down); what is left then is
// dropped and counted.
func (cl *Cluster) sendRetrying(n int, send func(left []int) []int) {
	left := make([]int, n)
	for i := range left {
		left[i] = i
	}
	deadline := time.Now().Add(retryFor)
	backoff := minBackoff
	for len(left) > 0 {
		if cl.up.Load() {
			left = send(left)
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-cl.stop:
			deadline = time.Now()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
	if len(left) > 0 {
		cl.dropped.Add(int64(len(left)))
		cl.log.Warn("cluster: client messages dropped: redis did not take them in time", "count", len(left))
	}
}

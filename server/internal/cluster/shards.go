package cluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/wire"
)

// Redis Cluster (redis+cluster://, docs/cluster.md "Redis Cluster"). The
// users and rooms are spread over partitions (layout.go), each one hash
// slot, so everything one script touches is in one slot, on one primary:
//
//   - Positions. Each partition hands out its own, from its own key
//     (wspush:{TAG}:pos) and its primary's clock, as one Redis does for
//     all: every stream, which lives in one partition, still gets growing
//     positions, and no node's clock is asked.
//   - A push to many users runs one script per partition of its users,
//     all in one pipeline (go-redis sends each primary its part at once);
//     the call's answer adds up the parts'.
//   - Pub/sub is sharded: SPUBLISH in the script, and one PubSub per
//     partition on each node, SSUBSCRIBEd to the partition's shard
//     anchor (wspush:{TAG}:s) and the channels of its local users and
//     rooms. go-redis subscribes a PubSub's channels again, in one
//     SSUBSCRIBE, when its connection broke (a failover): they are all in
//     one slot, so it may. It picks the node to reconnect to by the slot
//     of the PubSub's first classic channel, or at random without one
//     (go-redis 9.7 does not look at the shard channels there): so each
//     PubSub also SUBSCRIBEs to one classic channel of its partition's
//     tag, wspush:{TAG}:a, on which nothing is ever published, and
//     reconnects to the primary of its slot. A slot moved away
//     (resharding) makes Redis unsubscribe the shard anchor: the worker
//     then opens the partition's PubSub again, on the new owner, and the
//     receiver catches its streams up as after any re-subscription.
//   - Lost writes (epoch.go) are found per partition, by every script:
//     partScript and checkScript compare the partition's epoch with the
//     run id of the primary they run on (INFO server), and the last
//     position this node saw of the partition with the partition's own.
//     A failover, or a restart from older data, of a primary thus puts a
//     bound of lost positions in each of its partitions before anything
//     is written or read there, and every read from before it gets a gap.
//   - Message ids are kept per partition; on Redis Cluster every message
//     gets one (of this node's, when the caller gave none), so that a
//     script go-redis sends again after a timeout is not run twice.

// epochLua is the part of partScript and checkScript that checks the
// partition's epoch. KEYS[1] is the partition's position, lostKey and
// epochKey its lost bound and epoch; seen the last position this node saw
// of it ("" for none). It leaves last (the partition's last position,
// raised past what may be lost) and newlost (the bound it set, or 0).
const epochLua = `
local function parse(s)
  if not s then return nil end
  local a, b = string.match(s, '^(%d+)-(%d+)$')
  if not a then return nil end
  return {tonumber(a), tonumber(b)}
end
local function less(x, y) return x[1] < y[1] or (x[1] == y[1] and x[2] < y[2]) end
local function str(p) return string.format('%d-%d', p[1], p[2]) end
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = parse(redis.call('GET', KEYS[1]))
local run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
local lost = nil
local seen = parse(seenArg)
if seen and (not last or less(last, seen)) then lost = seen end
local e = redis.call('GET', epochKey)
if run and e ~= run then
  redis.call('SET', epochKey, run)
  if e and (not lost or less(lost, {ms, 0})) then lost = {ms, 0} end
end
local newlost = 0
if lost then
  local prev = parse(redis.call('GET', lostKey))
  if not prev or less(prev, lost) then redis.call('SET', lostKey, str(lost)) end
  if not last or less(last, lost) then
    last = lost
    redis.call('SET', KEYS[1], str(lost))
  end
  newlost = str(lost)
end
`

// partScript is publishScript for one partition of Redis Cluster.
//
// KEYS: the partition's position, the message id's key, since, lost,
// epoch, then the presence hashes of the users, then the streams. ARGV:
// max length, TTL in ms, the envelope's head and tail, "1" if the envelope
// carries the position, the id key's TTL in ms, the number of users, the
// node timeout in ms, "1" if the message is the backend's, "1" if the id
// key is to be used, the nodes alive ("\nA\nB\n"), the last position
// this node saw of the partition, then the channels (the users' first).
//
// It returns {position, settled, newlost, then per channel: the
// subscribers the SPUBLISH reached, and for user channels whether a node
// alive holds the user's presence}; or {position, "dup", newlost} when the
// id was seen already.
var partScript = redis.NewScript(`
local seenArg, lostKey, epochKey = ARGV[12], KEYS[4], KEYS[5]
` + epochLua + `
if ARGV[10] == '1' then
  local prev = redis.call('GET', KEYS[2])
  if prev then return {prev, 'dup', newlost} end
end
local seq = 0
if last and ms <= last[1] then
  ms = last[1]
  seq = last[2] + 1
  if seq >= 1048576 then ms = ms + 1; seq = 0 end
end
local id = string.format('%d-%d', ms, seq)
redis.call('SET', KEYS[1], id)
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('SET', KEYS[3], string.format('%d-%d', ms - 1, 1048575))
end
if ARGV[10] == '1' then redis.call('SET', KEYS[2], id, 'PX', ARGV[6]) end
local settled = 0
local since = redis.call('GET', KEYS[3])
if since then
  local sms = tonumber(string.match(since, '^(%d+)'))
  if sms and ms - sms > tonumber(ARGV[8]) then settled = 1 end
end
local env = ARGV[3]
if ARGV[5] == '1' then env = ARGV[3] .. id .. ARGV[4] end
local msg = id .. ' ' .. env
local users = tonumber(ARGV[7])
local counts = {}
for i = 13, #ARGV do counts[#counts + 1] = redis.call('SPUBLISH', ARGV[i], msg) end
for j = 1, #KEYS - 5 - users do
  local keep = settled == 0
  if not keep then
    if j <= users then
      keep = redis.call('EXISTS', KEYS[5 + j]) == 1
    else
      keep = ARGV[9] == '1' or counts[j] > 0
    end
  end
  if keep then
    local key = KEYS[5 + users + j]
    redis.call('XADD', key, 'MAXLEN', ARGV[1], id, 'm', env)
    redis.call('XTRIM', key, 'MINID', string.format('%d', ms - tonumber(ARGV[2])))
    redis.call('PEXPIRE', key, ARGV[2])
  end
end
local res = {id, settled, newlost}
for c = 1, #counts do
  res[#res + 1] = counts[c]
  if c <= users then
    local here = 0
    for _, n in ipairs(redis.call('HKEYS', KEYS[5 + c])) do
      if n ~= 'seen' and string.find(ARGV[11], '\n' .. n .. '\n', 1, true) then here = 1 end
    end
    res[#res + 1] = here
  end
end
return res
`)

// checkScript checks a partition's epoch before a read or a subscription
// (epochLua), gives it a since if it has none (a primary that came back
// empty: its history starts now, sinceScript), and returns {its last
// position or "", since, its lost bound or "", newlost}. KEYS: the
// partition's position, since, lost, epoch; ARGV: the last position this
// node saw of it.
var checkScript = redis.NewScript(`
local seenArg, lostKey, epochKey = ARGV[1], KEYS[3], KEYS[4]
` + epochLua + `
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[2], string.format('%d-%d', ms - 1, 1048575))
end
local out = {'', redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3]) or '', newlost}
if last then out[1] = str(last) end
return out
`)

// observe records that this node saw position p of partition part.
func (cl *Cluster) observe(part int, p history.Pos) {
	cl.clock.Observe(p)
	if cl.seen == nil {
		return
	}
	s := &cl.seen[part]
	for {
		old := s.Load()
		if uint64(p) <= old || s.CompareAndSwap(old, uint64(p)) {
			return
		}
	}
}

// seenArg is the last position this node saw of partition part, for the
// scripts: "" for none.
func (cl *Cluster) seenArg(part int) string {
	if p := cl.seen[part].Load(); p != 0 {
		return history.Pos(p).String()
	}
	return ""
}

// lostFound logs and counts a bound of lost positions a script set.
func (cl *Cluster) lostFound(part int, v any) {
	s, ok := v.(string)
	if !ok {
		return
	}
	if p, err := history.ParsePos(s); err == nil {
		cl.observe(part, p)
		cl.lostWrites.Add(1)
		cl.log.Warn("redis: a partition on a new primary, or on one restarted from older data: messages up to the lost position may be missing; reads from before it get a gap notice",
			"node", cl.node, "partition", strings.TrimSuffix(strings.TrimPrefix(cl.lay.pre(part), "wspush:"), ":"), "lost", s)
	}
}

// partReply takes newlost out of partScript's answer, so that the rest
// reads as publishScript's.
func (cl *Cluster) partReply(pr prepared, out []any) []any {
	if len(out) < 3 {
		return out
	}
	cl.lostFound(pr.part, out[2])
	return append(out[:2:2], out[3:]...)
}

// alive is the nodes alive as of the last heartbeat, as partScript takes
// them.
func (cl *Cluster) aliveArg() string {
	if p := cl.aliveIDs.Load(); p != nil {
		return *p
	}
	return "\n" + cl.node + "\n"
}

// prepareParts splits m into one script per partition of its receivers:
// a broadcast goes to the global partition, a room's publish to the
// room's, a push to each partition of its users, in the order the users
// first come.
func (cl *Cluster) prepareParts(m msg) []prepared {
	if !cl.lay.sharded() {
		return []prepared{cl.prepare(m)}
	}
	if m.id == "" {
		// go-redis may send a script again after a timeout: an id
		// makes the second run a no-op.
		m.id = cl.node + ":" + strconv.FormatUint(cl.seq.Add(1), 36)
	}
	head, tail, withPos := cl.envelope(m)
	part := func(k int, users []string, streams, channels []string) prepared {
		pr := prepared{part: k, names: users, users: len(users), head: head, tail: tail, withPos: withPos}
		if !withPos {
			streams = nil
		}
		pr.keys = []string{cl.lay.posKey(k), cl.lay.dedupKey(k, m.id), cl.lay.sinceKey(k), cl.lay.lostKey(k), cl.lay.epochKey(k)}
		for _, u := range users {
			pr.keys = append(pr.keys, cl.lay.presenceKey(u))
		}
		pr.keys = append(pr.keys, streams...)
		pr.args = []any{cl.cfg.HistorySize, cl.cfg.HistoryTTL.Milliseconds(), head, tail, boolArg(withPos),
			dedupTTL.Milliseconds(), len(users), nodeTimeout.Milliseconds(), boolArg(m.from == ""), "1",
			cl.aliveArg(), cl.seenArg(k)}
		for _, ch := range channels {
			pr.args = append(pr.args, ch)
		}
		return pr
	}
	switch m.kind {
	case kindBroadcast:
		return []prepared{part(cl.lay.global(), nil, nil, []string{cl.lay.broadcastCh()})}
	case kindPublish:
		return []prepared{part(cl.lay.roomPart(m.room), nil,
			[]string{cl.lay.streamKey(history.RoomStream(m.room))}, []string{cl.lay.roomCh(m.room)})}
	}
	var order []int
	groups := map[int][]string{}
	for _, u := range m.users {
		k := cl.lay.userPart(u)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], u)
	}
	prs := make([]prepared, 0, len(order))
	for _, k := range order {
		users := groups[k]
		streams := make([]string, len(users))
		channels := make([]string, len(users))
		for i, u := range users {
			streams[i] = cl.lay.streamKey(history.UserStream(u))
			channels[i] = cl.lay.userCh(u)
		}
		prs = append(prs, part(k, users, streams, channels))
	}
	return prs
}

// runParts runs the scripts of prs in one pipeline (go-redis sends each
// primary its share at once, and follows MOVED and ASK) and returns each
// one's answer, read as publishScript's, or its error.
func (cl *Cluster) runParts(ctx context.Context, prs []prepared) ([][]any, []error) {
	cmds := pipeScripts(ctx, cl.rdb, partScript, prs)
	outs := make([][]any, len(prs))
	errs := make([]error, len(prs))
	for i, c := range cmds {
		out, err := c.Slice()
		if err != nil {
			errs[i] = err
			continue
		}
		outs[i] = cl.partReply(prs[i], out)
	}
	return outs, errs
}

// merge adds up the answers of m's parts.
func (cl *Cluster) merge(m msg, prs []prepared, outs [][]any) wire.PushResult {
	res := wire.PushResult{Online: []string{}, Offline: []string{}, Unknown: []string{}}
	dups := 0
	for i, pr := range prs {
		r := cl.result(m, pr, outs[i])
		if r.Duplicate {
			dups++
		}
		res.Delivered += r.Delivered
		res.Online = append(res.Online, r.Online...)
		res.Offline = append(res.Offline, r.Offline...)
		res.Unknown = append(res.Unknown, r.Unknown...)
	}
	res.Duplicate = dups == len(prs) && dups > 0
	return res
}

// sendShardedWait is sendWait on Redis Cluster: each part with WAIT on a
// connection to the primary of its partition, one after the other. The
// call is 200 only if every part ran and was replicated; if one did not,
// its retry with the same id runs only the missing parts (the others' ids
// are kept per partition).
func (cl *Cluster) sendShardedWait(ctx context.Context, m msg, prs []prepared) (wire.PushResult, error) {
	cc, ok := cl.rdb.(*redis.ClusterClient)
	if !ok {
		return wire.PushResult{}, ErrUnavailable
	}
	res := wire.PushResult{Online: []string{}, Offline: []string{}, Unknown: []string{}}
	dups := 0
	for _, pr := range prs {
		c, err := cc.MasterForKey(ctx, pr.keys[0])
		if err != nil {
			cl.failed(err)
			cl.unavailable.Add(1)
			return wire.PushResult{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		r, err := cl.sendWaitOn(ctx, c, partScript, msg{kind: m.kind, id: m.id, envID: m.envID, users: pr.names, room: m.room, from: m.from, data: m.data}, pr)
		if err != nil {
			return wire.PushResult{}, err
		}
		if r.Duplicate {
			dups++
		}
		res.Delivered += r.Delivered
		res.Online = append(res.Online, r.Online...)
		res.Offline = append(res.Offline, r.Offline...)
		res.Unknown = append(res.Unknown, r.Unknown...)
	}
	res.Duplicate = dups == len(prs) && dups > 0
	return res, nil
}

// sendBatchSharded is sendBatch on Redis Cluster: the parts of every
// message of the batch in one pipeline, a message retried whole while any
// of its parts failed (the parts that ran are no-ops then: their ids).
func (cl *Cluster) sendBatchSharded(batch []msg) {
	parts := make([][]prepared, len(batch))
	for i, m := range batch {
		if m.id == "" {
			batch[i].id = cl.node + ":" + strconv.FormatUint(cl.seq.Add(1), 36)
		}
		parts[i] = cl.prepareParts(batch[i])
	}
	cl.sendRetrying(len(batch), func(left []int) []int { return cl.pipelineSharded(batch, parts, left) })
}

// pipelineSharded sends the parts of the messages of batch at indices
// left in one pipeline and returns the indices of those with a part Redis
// did not take.
func (cl *Cluster) pipelineSharded(batch []msg, parts [][]prepared, left []int) []int {
	ctx, cancel := context.WithTimeout(context.Background(), redisWait)
	defer cancel()
	var all []prepared
	for _, i := range left {
		all = append(all, parts[i]...)
	}
	outs, errs := cl.runParts(ctx, all)
	var again []int
	k := 0
	for _, i := range left {
		ok := true
		for range parts[i] {
			if errs[k] != nil {
				cl.failed(errs[k])
				ok = false
			}
			k++
		}
		if ok {
			cl.merge(batch[i], parts[i], outs[k-len(parts[i]):k])
		} else {
			again = append(again, i)
		}
	}
	return again
}

// pushBatchSharded is PushBatch on Redis Cluster: the parts of all of
// msgs in one pipeline, each message answered on its own.
func (cl *Cluster) pushBatchSharded(ctx context.Context, msgs []wire.Push, out []wire.Pushed) {
	if !cl.up.Load() {
		for i := range msgs {
			out[i].Err = ErrUnavailable
		}
		cl.unavailable.Add(int64(len(msgs)))
		return
	}
	ctx, cancel := context.WithTimeout(ctx, redisWait)
	defer cancel()
	ms := make([]msg, len(msgs))
	parts := make([][]prepared, len(msgs))
	var all []prepared
	for i, m := range msgs {
		ms[i] = msg{kind: kindPush, id: m.ID, envID: m.ID, users: m.Users, data: m.Data}
		if ms[i].id == "" {
			ms[i].id = cl.node + ":" + strconv.FormatUint(cl.seq.Add(1), 36)
		}
		parts[i] = cl.prepareParts(ms[i])
		all = append(all, parts[i]...)
	}
	outs, errs := cl.runParts(ctx, all)
	k := 0
	for i := range msgs {
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
			out[i].Err = fmt.Errorf("%w: %v", ErrUnavailable, err)
			continue
		}
		out[i].Result = cl.merge(ms[i], parts[i], outs[k-len(parts[i]):k])
	}
}

// startShards opens one PubSub per partition, subscribed to its anchors
// (and, for the global partition, to broadcasts and control), and merges
// what they carry into msgs, in each one's order.
func (cl *Cluster) startShards(ctx context.Context) {
	n := cl.lay.count()
	cl.shards = make([]*redis.PubSub, n)
	cl.merged = make(chan any, 4096)
	cl.msgs = cl.merged
	for k := range n {
		cl.shards[k] = cl.openShard(ctx, k, nil)
	}
}

// openShard opens partition k's PubSub, subscribed to its classic anchor
// (so that go-redis always connects it to the primary of k's slot), its
// shard anchor and chs.
func (cl *Cluster) openShard(ctx context.Context, k int, chs []string) *redis.PubSub {
	first := []string{cl.lay.shardAnchor(k)}
	if k == cl.lay.global() {
		first = append(first, cl.lay.broadcastCh(), cl.lay.controlCh())
	}
	ps := cl.rdb.Subscribe(ctx, cl.lay.anchor(k))
	_ = ps.SSubscribe(ctx, append(first, chs...)...) // kept for the reconnection if Redis is down now
	ch := ps.ChannelWithSubscriptions(redis.WithChannelSize(1024))
	cl.wg.Add(1)
	go cl.forward(ch)
	return ps
}

// forward hands what one PubSub carries to the receiver.
func (cl *Cluster) forward(ch <-chan any) {
	defer cl.wg.Done()
	for {
		select {
		case <-cl.stop:
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			select {
			case cl.merged <- m:
			case <-cl.stop:
				return
			}
		}
	}
}

// closeShards closes the partitions' PubSubs.
func (cl *Cluster) closeShards() {
	for _, ps := range cl.shards {
		if ps != nil {
			_ = ps.Close()
		}
	}
}

// reopenShard is the worker's answer to Redis unsubscribing partition k's
// anchor: k's slot moved to another primary (resharding). It opens k's
// PubSub again, on the slot's owner now, with the channels this node
// subscribes to there; their confirmations make the receiver catch their
// streams up.
func (cl *Cluster) reopenShard(k int) {
	var chs []string
	for u := range cl.subUsers {
		if cl.lay.userPart(u) == k {
			chs = append(chs, cl.lay.userCh(u))
		}
	}
	for r := range cl.subRooms {
		if cl.lay.roomPart(r) == k {
			chs = append(chs, cl.lay.roomCh(r))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisWait)
	defer cancel()
	// go-redis connects a PubSub to the primary its map of the slots
	// names, and reloads that map in the background: wait until the
	// primary it names answers for the slot itself (no MOVED).
	cc := cl.rdb.(*redis.ClusterClient)
	for {
		cc.ReloadState(ctx)
		c, err := cc.MasterForKey(ctx, cl.lay.posKey(k))
		if err == nil {
			err = c.Exists(ctx, cl.lay.posKey(k)).Err()
		}
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	old := cl.shards[k]
	cl.shards[k] = cl.openShard(ctx, k, chs)
	_ = old.Close()
	cl.reshards.Add(1)
	cl.log.Info("redis: a partition's slot moved: subscribed again on its new primary", "node", cl.node, "partition", k, "channels", len(chs))
}

// shardSubscribe SSUBSCRIBEs chs (or SUNSUBSCRIBEs them), each on the
// PubSub of its partition, one command per partition.
func (cl *Cluster) shardSubscribe(ctx context.Context, chs []string, on bool) error {
	groups := map[int][]string{}
	for _, ch := range chs {
		_, _, k := cl.lay.parse(ch)
		groups[k] = append(groups[k], ch)
	}
	for k, g := range groups {
		var err error
		if on {
			err = cl.shards[k].SSubscribe(ctx, g...)
		} else {
			cl.umu.Lock()
			for _, ch := range g {
				cl.leaving[ch] = true
			}
			cl.umu.Unlock()
			err = cl.shards[k].SUnsubscribe(ctx, g...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// unsubscribed is the receiver's answer to an SUNSUBSCRIBE confirmation:
// one this node asked for forgets the channel's record; one Redis sent by
// itself (the slot moved) keeps it for the catch-up, and for the anchor
// has the worker open the partition again.
func (cl *Cluster) unsubscribed(ch string) {
	kind, _, k := cl.lay.parse(ch)
	if kind == chKindAnchor && ch == cl.lay.shardAnchor(k) {
		select {
		case cl.rebuild <- k:
		default:
		}
		return
	}
	cl.umu.Lock()
	asked := cl.leaving[ch]
	delete(cl.leaving, ch)
	cl.umu.Unlock()
	if asked {
		cl.forget(ch)
	}
}

// floor is what bounds a stream's read from below: Redis's since and its
// bound of lost positions (the partition's on Redis Cluster); "" where
// Redis did not answer or has none.
type floor struct{ since, lost string }

// floors gathers the floors of the streams one pipeline reads: on one
// Redis sinceScript and the two GETs once, on Redis Cluster checkScript
// once per partition read, before the reads in the pipeline.
type floors struct {
	cl          *Cluster
	since, lost *redis.StringCmd
	parts       map[int]*redis.Cmd
	told        map[int]bool
}

func (cl *Cluster) newFloors() *floors { return &floors{cl: cl} }

// check queues in p what the floor of the stream at key needs.
func (f *floors) check(ctx context.Context, p redis.Pipeliner, key string) {
	lay := f.cl.lay
	if !lay.sharded() {
		if f.since == nil {
			sinceScript.Eval(ctx, p, []string{lay.sinceKey(0)})
			f.since = p.Get(ctx, lay.sinceKey(0))
			f.lost = p.Get(ctx, lay.lostKey(0))
		}
		return
	}
	k := lay.keyPart(key)
	if f.parts == nil {
		f.parts = map[int]*redis.Cmd{}
	}
	if _, ok := f.parts[k]; !ok {
		f.parts[k] = f.cl.checkPart(ctx, p, k)
	}
}

// of is the floor of the stream at key, once the pipeline ran.
func (f *floors) of(key string) floor {
	if !f.cl.lay.sharded() {
		if f.since == nil {
			return floor{}
		}
		return floor{since: f.since.Val(), lost: f.lost.Val()}
	}
	k := f.cl.lay.keyPart(key)
	c := f.parts[k]
	if c == nil {
		return floor{}
	}
	out, err := c.Slice()
	if err != nil || len(out) < 4 {
		return floor{}
	}
	if f.told == nil {
		f.told = map[int]bool{}
	}
	if !f.told[k] {
		f.told[k] = true
		f.cl.lostFound(k, out[3])
	}
	since, _ := out[1].(string)
	lost, _ := out[2].(string)
	return floor{since: since, lost: lost}
}

// checkPart is checkScript for partition k in p: after the pipeline ran,
// its answer gives the partition's last position and since.
func (cl *Cluster) checkPart(ctx context.Context, p redis.Pipeliner, k int) *redis.Cmd {
	return checkScript.Eval(ctx, p, []string{cl.lay.posKey(k), cl.lay.sinceKey(k), cl.lay.lostKey(k), cl.lay.epochKey(k)}, cl.seenArg(k))
}

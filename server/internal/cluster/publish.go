package cluster

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/wire"
)

// publishScript hands out the next position, keeps the message in its
// streams and publishes it. KEYS[1] is keyPos, KEYS[2..] the streams.
// ARGV: max length, TTL in ms, the envelope's head and tail (the position
// goes between them), "1" if the envelope carries the position, then the
// channels. It returns the position and what each PUBLISH reached.
var publishScript = redis.NewScript(`
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
local env = ARGV[3]
if ARGV[5] == '1' then env = ARGV[3] .. id .. ARGV[4] end
for i = 2, #KEYS do
  redis.call('XADD', KEYS[i], 'MAXLEN', ARGV[1], id, 'm', env)
  redis.call('XTRIM', KEYS[i], 'MINID', string.format('%d', ms - tonumber(ARGV[2])))
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
local res = {id}
local msg = id .. ' ' .. env
for i = 6, #ARGV do
  res[#res + 1] = redis.call('PUBLISH', ARGV[i], msg)
end
return res
`)

// Result is what a push through the cluster did: the nodes it reached
// (or, when Redis is down, this node's connections), and for a push to
// users, which users some node holds a connection of.
type Result struct {
	Delivered int
	Online    []string
	Offline   []string
}

// Push publishes data to users through Redis and waits for the answer or
// ctx. from, when set, is the sending user.
func (cl *Cluster) Push(ctx context.Context, users []string, data json.RawMessage, from string) (Result, error) {
	return cl.send(ctx, msg{kind: kindPush, users: users, data: data, from: from})
}

// Publish publishes data to room through Redis and waits, as Push.
func (cl *Cluster) Publish(ctx context.Context, room string, data json.RawMessage, from string) (int, error) {
	res, err := cl.send(ctx, msg{kind: kindPublish, room: room, data: data, from: from})
	return res.Delivered, err
}

// Broadcast publishes data to everyone through Redis and waits, as Push.
func (cl *Cluster) Broadcast(ctx context.Context, data json.RawMessage) (int, error) {
	res, err := cl.send(ctx, msg{kind: kindBroadcast, data: data})
	return res.Delivered, err
}

// QueuePublish hands a client's publish to room to the publisher. It runs
// on a loop and never blocks: data is copied, and past Config.MaxQueue
// waiting publishes it returns ErrBusy.
func (cl *Cluster) QueuePublish(room string, data []byte, from string) error {
	return cl.queue(msg{kind: kindPublish, room: room, data: append(json.RawMessage(nil), data...), from: from})
}

// QueuePush hands a client's send to user to the publisher, as
// QueuePublish.
func (cl *Cluster) QueuePush(to string, data []byte, from string) error {
	return cl.queue(msg{kind: kindPush, users: []string{to}, data: append(json.RawMessage(nil), data...), from: from})
}

// ErrBusy is returned when the queue of client publishes is full.
var ErrBusy = errBusy{}

type errBusy struct{}

func (errBusy) Error() string { return "cluster: too many messages waiting for Redis" }

func (cl *Cluster) queue(m msg) error {
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

// prepared is a message ready for the publish script.
type prepared struct {
	keys       []string
	args       []any
	head, tail []byte
	withPos    bool
}

// prepare builds the script's keys and arguments for m: the envelope's
// head and tail, between which Redis puts the position.
func (cl *Cluster) prepare(m msg) prepared {
	var pr prepared
	var channels []string
	switch m.kind {
	case kindBroadcast:
		channels = []string{chBroadcast}
	case kindPublish:
		pr.keys, channels = []string{keyHistory + history.RoomStream(m.room)}, []string{chRoom + m.room}
	default:
		for _, u := range m.users {
			pr.keys = append(pr.keys, keyHistory+history.UserStream(u))
			channels = append(channels, chUser+u)
		}
	}
	pr.withPos = cl.History() && m.kind != kindBroadcast
	if !pr.withPos {
		pr.keys = nil
	}
	pr.head = wire.AppendPushHead(nil, cl.eng.NextID())
	ts := time.Now().UnixMilli()
	if pr.withPos {
		pr.head = append(pr.head, `,"pos":"`...)
		pr.tail = wire.AppendPushTail([]byte{'"'}, m.data, m.room, m.from, ts)
	} else {
		pr.head = wire.AppendPushTail(pr.head, m.data, m.room, m.from, ts)
	}
	pr.args = []any{cl.cfg.HistorySize, cl.cfg.HistoryTTL.Milliseconds(), pr.head, pr.tail, boolArg(pr.withPos)}
	for _, ch := range channels {
		pr.args = append(pr.args, ch)
	}
	pr.keys = append([]string{keyPos}, pr.keys...)
	return pr
}

// send runs the publish script for m, or delivers m locally when Redis is
// down, and waits for ctx.
func (cl *Cluster) send(ctx context.Context, m msg) (Result, error) {
	pr := cl.prepare(m)
	var out []any
	var err error
	if cl.up.Load() {
		out, err = publishScript.Run(ctx, cl.rdb, pr.keys, pr.args...).Slice()
		if err != nil {
			cl.failed(err)
		}
	}
	if !cl.up.Load() || err != nil {
		// Redis is down: this node's clients at least.
		cl.localOnly.Add(1)
		return cl.local(ctx, m, pr)
	}
	return cl.result(m, out), nil
}

// sendBatch publishes client messages in one pipeline; those Redis does
// not take go to this node's clients only.
func (cl *Cluster) sendBatch(batch []msg) {
	prs := make([]prepared, len(batch))
	for i, m := range batch {
		prs[i] = cl.prepare(m)
	}
	var cmds []*redis.Cmd
	if cl.up.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), redisWait)
		_, err := cl.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, pr := range prs {
				cmds = append(cmds, publishScript.EvalSha(ctx, p, pr.keys, pr.args...))
			}
			return nil
		})
		if err != nil && isNoScript(err) {
			// Redis restarted without this node noticing: send one by
			// one, which loads the script again.
			cmds = cmds[:0]
			for _, pr := range prs {
				cmds = append(cmds, publishScript.Run(ctx, cl.rdb, pr.keys, pr.args...))
			}
		}
		cancel()
	}
	for i, m := range batch {
		if i < len(cmds) {
			if _, err := cmds[i].Slice(); err == nil {
				cl.published.Add(1)
				continue
			} else {
				cl.failed(err)
			}
		}
		cl.localOnly.Add(1)
		cl.post(m, prs[i])
	}
}

func isNoScript(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") }

// result reads the script's answer for m.
func (cl *Cluster) result(m msg, out []any) Result {
	res := Result{Online: []string{}, Offline: []string{}}
	cl.published.Add(1)
	for i, n := range out[1:] {
		k, _ := n.(int64)
		res.Delivered += int(k)
		if m.kind == kindPush {
			if k > 0 {
				res.Online = append(res.Online, m.users[i])
			} else {
				res.Offline = append(res.Offline, m.users[i])
			}
		}
	}
	return res
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// localFrame is m's frame for this node alone, positioned by the node's
// own clock.
func (cl *Cluster) localFrame(pr prepared) ([]byte, history.Pos) {
	if !pr.withPos {
		return wire.TextFrameParts(pr.head), 0
	}
	p := cl.clock.Next(time.Now())
	return wire.TextFrameParts(pr.head, p.Append(nil), pr.tail), p
}

// local delivers m to this node's connections only and waits for ctx.
func (cl *Cluster) local(ctx context.Context, m msg, pr prepared) (Result, error) {
	f, p := cl.localFrame(pr)
	switch m.kind {
	case kindPush:
		n, online, offline, err := cl.eng.DeliverUsers(ctx, m.users, f, p)
		return Result{Delivered: n, Online: online, Offline: offline}, err
	case kindPublish:
		n, err := cl.eng.DeliverRoom(ctx, m.room, f, p)
		return Result{Delivered: n}, err
	}
	n, err := cl.eng.DeliverAll(ctx, f)
	return Result{Delivered: n}, err
}

// post delivers m to this node's connections only, without waiting.
func (cl *Cluster) post(m msg, pr prepared) {
	f, p := cl.localFrame(pr)
	var err error
	switch m.kind {
	case kindPush:
		err = cl.eng.PostUsers(m.users, f, p)
	case kindPublish:
		err = cl.eng.PostRoom(m.room, f, p)
	default:
		err = cl.eng.PostAll(f)
	}
	if err != nil {
		cl.dropped.Add(1)
	}
}

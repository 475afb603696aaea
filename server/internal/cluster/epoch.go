package cluster

import (
	"context"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/wspush/wspush/server/internal/history"
)

// Lost writes. Redis replicates asynchronously: a replica promoted after
// its primary died (Sentinel), or a Redis restarted from a snapshot older
// than its last writes, may lack messages the API acknowledged and nodes
// delivered. Their streams would then read as if nothing was missing, and
// a client resuming from before them would silently never get them.
//
// Every Redis instance is told apart by its run id (INFO server), which a
// restart or a promotion changes; the run id of the instance that keeps
// the data is in keyEpoch, and the data (snapshot, replica) carries it. A
// node checks it on every new connection, before anything else runs on
// that connection (go-redis's OnConnect), so before any position is handed
// out there (epochScript):
//
//   - keyEpoch names another instance: this one has that instance's data,
//     perhaps not all of it. Every position that instance handed out is at
//     most its clock at its death, so before this instance's clock now:
//     everything up to now (or up to the last position this node saw, if
//     that is later: clocks of two hosts differ) may be lost.
//   - keyEpoch names this instance, but this node saw a position past the
//     last it handed out: it saw writes this instance lacks (a clock
//     behind the dead one's).
//
// The bound goes into keyLost (only ever up), and keyPos is moved up to
// it, so no message of the new instance gets a position in the hole. Every
// read of a stream, a resume's or a node's catch-up after it subscribed
// again, takes keyLost as a floor: a client whose position is before it
// gets the gap notice (docs/protocol.md), then what the stream has after
// it. Nothing in Redis says which streams the lost writes touched, so
// every stream read from before the bound gets the notice: one per
// stream and failover that lost writes, never a silent hole.
//
// A Redis that comes back empty has no keyEpoch: keySince already makes
// its history start then.

const (
	keyEpoch = "wspush:epoch" // the run id of the instance that keeps this data
	keyLost  = "wspush:lost"  // positions up to it may have been lost in a failover
)

// epochScript: KEYS keyEpoch, keyPos, keyLost; ARGV the instance's run
// id, the last position the node saw. It returns the new bound of lost
// positions, or 0.
var epochScript = redis.NewScript(`
local function parse(s)
  if not s then return nil end
  local a, b = string.match(s, '^(%d+)-(%d+)$')
  if not a then return nil end
  return {tonumber(a), tonumber(b)}
end
local function less(x, y) return x[1] < y[1] or (x[1] == y[1] and x[2] < y[2]) end
local function str(p) return string.format('%d-%d', p[1], p[2]) end
local e = redis.call('GET', KEYS[1])
local pos = parse(redis.call('GET', KEYS[2]))
local seen = parse(ARGV[2])
if seen and seen[1] == 0 and seen[2] == 0 then seen = nil end
local lost = nil
if seen and (not pos or less(pos, seen)) then lost = seen end
if e ~= ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1])
  if e then
    local t = redis.call('TIME')
    local now = {tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), 0}
    if not lost or less(lost, now) then lost = now end
  end
end
if not lost then return 0 end
local prev = parse(redis.call('GET', KEYS[3]))
if not prev or less(prev, lost) then redis.call('SET', KEYS[3], str(lost)) end
if not pos or less(pos, lost) then redis.call('SET', KEYS[2], str(lost)) end
return str(lost)
`)

// onConnect runs on every new connection to Redis (the primary's, and
// go-redis's to the Sentinels), before anything else on it: it checks the
// instance's epoch (epochScript).
func (cl *Cluster) onConnect(ctx context.Context, cn *redis.Conn) error {
	info, err := cn.Info(ctx, "server").Result()
	if err != nil {
		return err
	}
	if strings.Contains(info, "redis_mode:sentinel") {
		return nil
	}
	run := infoField(info, "run_id")
	if run == "" {
		return nil // not a redis-server that says who it is: nothing to check
	}
	// Another instance than the last (a restart, a promoted replica) may
	// lack this node's presence and rooms, even when no call of this node
	// failed in between (an outage shorter than a heartbeat): the worker
	// writes them again at its next heartbeat (checkUp).
	if prev := cl.runID.Swap(&run); prev != nil && *prev != run {
		cl.newInstance.Store(true)
	}
	out, err := epochScript.Run(ctx, cn, []string{keyEpoch, keyPos, keyLost}, run, cl.clock.Last().String()).Result()
	if err != nil {
		return err
	}
	if s, ok := out.(string); ok {
		if p, err := history.ParsePos(s); err == nil {
			cl.clock.Observe(p)
			cl.lostWrites.Add(1)
			cl.log.Warn("redis: a new primary, or a restart from older data: messages up to the lost position may be missing; reads from before it get a gap notice",
				"node", cl.node, "run_id", run, "lost", s)
		}
	}
	return nil
}

// infoField is the value of name in an INFO answer.
func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// floorLost raises r's floor to the bound of lost positions in lost (the
// value of keyLost), if any.
func floorLost(r *history.Read, lost string) {
	if p, err := history.ParsePos(lost); err == nil {
		r.Floor = max(r.Floor, p)
	}
}

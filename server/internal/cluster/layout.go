package cluster

import (
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/wspush/wspush/server/internal/history"
)

// Where keys and channels live. On one Redis (and behind Sentinel) every
// name is "wspush:" and what cluster.go lists, as ever. On Redis Cluster
// (redis+cluster://) the users and rooms are spread over partitions, each
// a hash tag that Redis maps to one slot:
//
//	wspush:{TAG}:pos, since, lost, epoch   the partition's positions (shards.go)
//	wspush:{TAG}:h:u:USER, h:r:ROOM        streams
//	wspush:{TAG}:p:USER                    presence
//	wspush:{TAG}:m:ID                      message ids
//	wspush:{TAG}:u:USER, r:ROOM            shard channels (SPUBLISH, SSUBSCRIBE)
//	wspush:{TAG}:a, s                      the partition's anchors (shards.go)
//
// A user's or room's partition is FNV-1a of its stream name modulo the
// partitions, so everything one script touches is in one slot, and each
// partition orders its own positions. The tags are chosen so that the
// partitions' slots are evenly spaced over the 16,384: Redis Cluster's
// usual split of the slots in equal ranges gives each primary as many
// partitions, within one. One more partition, the global one, holds the
// nodes' heartbeats and stats and carries broadcasts and control messages
// (wspush:{TAG}:nodes, stats:NODE, b, c). Room rosters (rooms.go) are one
// key per command and need no tag.
type layout struct {
	parts []string       // the partitions' prefixes "wspush:{TAG}:", the global one last; nil on one Redis
	index map[string]int // tag -> partition
}

// slots is Redis Cluster's number of hash slots.
const slots = 16384

// newLayout returns the layout of one Redis (n == 0) or of n partitions on
// Redis Cluster.
func newLayout(n int) *layout {
	l := &layout{}
	if n <= 0 {
		return l
	}
	total := n + 1
	tags := make([]string, total)
	l.index = make(map[string]int, total)
	left := total
	for i := 0; left > 0; i++ {
		tag := "w" + strconv.Itoa(i)
		k := int(keySlot(tag)) * total / slots // the evenly spaced block the slot falls in
		if tags[k] == "" {
			tags[k] = tag
			left--
		}
	}
	l.parts = make([]string, total)
	for k, tag := range tags {
		l.parts[k] = "wspush:{" + tag + "}:"
		l.index[tag] = k
	}
	return l
}

// sharded reports whether this is Redis Cluster's layout.
func (l *layout) sharded() bool { return l.parts != nil }

// count is the number of partitions, the global one included; 1 on one
// Redis.
func (l *layout) count() int { return max(len(l.parts), 1) }

// global is the partition of heartbeats, broadcasts and control.
func (l *layout) global() int { return l.count() - 1 }

// pre is partition k's prefix.
func (l *layout) pre(k int) string {
	if l.parts == nil {
		return "wspush:"
	}
	return l.parts[k]
}

// partOf is the partition of a stream ("u:USER", "r:ROOM").
func (l *layout) partOf(stream string) int {
	if l.parts == nil {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(stream))
	return int(h.Sum32() % uint32(len(l.parts)-1))
}

func (l *layout) userPart(u string) int { return l.partOf(history.UserStream(u)) }
func (l *layout) roomPart(r string) int { return l.partOf(history.RoomStream(r)) }

// Keys and channels.
func (l *layout) streamKey(stream string) string { return l.pre(l.partOf(stream)) + "h:" + stream }
func (l *layout) presenceKey(u string) string    { return l.pre(l.userPart(u)) + "p:" + u }
func (l *layout) userCh(u string) string         { return l.pre(l.userPart(u)) + "u:" + u }
func (l *layout) roomCh(r string) string         { return l.pre(l.roomPart(r)) + "r:" + r }
func (l *layout) posKey(k int) string            { return l.pre(k) + "pos" }
func (l *layout) sinceKey(k int) string          { return l.pre(k) + "since" }
func (l *layout) lostKey(k int) string           { return l.pre(k) + "lost" }
func (l *layout) epochKey(k int) string          { return l.pre(k) + "epoch" }
func (l *layout) dedupKey(k int, id string) string {
	return l.pre(k) + "m:" + id
}
func (l *layout) anchor(k int) string         { return l.pre(k) + "a" }
func (l *layout) shardAnchor(k int) string    { return l.pre(k) + "s" }
func (l *layout) nodesKey() string            { return l.pre(l.global()) + "nodes" }
func (l *layout) statsKey(node string) string { return l.pre(l.global()) + "stats:" + node }
func (l *layout) broadcastCh() string         { return l.pre(l.global()) + "b" }
func (l *layout) controlCh() string           { return l.pre(l.global()) + "c" }

// keyPart is the partition of a key of this layout, by its tag.
func (l *layout) keyPart(key string) int {
	if l.parts == nil {
		return 0
	}
	s := strings.IndexByte(key, '{')
	e := strings.IndexByte(key, '}')
	if s < 0 || e <= s {
		return l.global()
	}
	return l.index[key[s+1:e]]
}

// Kinds of channel.
const (
	chKindNone = iota
	chKindUser
	chKindRoom
	chKindBroadcast
	chKindControl
	chKindAnchor
)

// parse tells what a channel of this layout is, the user or room it is
// for, and its partition.
func (l *layout) parse(ch string) (kind int, name string, part int) {
	rest, ok := strings.CutPrefix(ch, "wspush:")
	if !ok {
		return chKindNone, "", 0
	}
	if l.parts != nil {
		if !strings.HasPrefix(rest, "{") {
			return chKindNone, "", 0
		}
		end := strings.Index(rest, "}:")
		if end < 0 {
			return chKindNone, "", 0
		}
		k, ok := l.index[rest[1:end]]
		if !ok {
			return chKindNone, "", 0
		}
		part, rest = k, rest[end+2:]
	}
	switch {
	case strings.HasPrefix(rest, "u:"):
		return chKindUser, rest[2:], part
	case strings.HasPrefix(rest, "r:"):
		return chKindRoom, rest[2:], part
	case rest == "b":
		return chKindBroadcast, "", part
	case rest == "c":
		return chKindControl, "", part
	case (rest == "a" || rest == "s") && l.parts != nil:
		return chKindAnchor, "", part
	}
	return chKindNone, "", 0
}

// keySlot is Redis Cluster's slot of a key: CRC16 (XMODEM) of its hash
// tag, or of the whole key without one, modulo 16,384.
func keySlot(key string) uint16 {
	if s := strings.IndexByte(key, '{'); s >= 0 {
		if e := strings.IndexByte(key[s+1:], '}'); e > 0 {
			key = key[s+1 : s+1+e]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % slots
}

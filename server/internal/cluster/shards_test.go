package cluster

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/redistest"
)

// The partitions' tags land in evenly spaced slots, so that Redis
// Cluster's equal slot ranges give each primary as many partitions.
func TestLayoutSpreadsPartitionsEvenlyOverTheSlots(t *testing.T) {
	for _, n := range []int{1, 16, 64, 1024} {
		l := newLayout(n)
		per := make([]int, 3)
		for k := range l.count() {
			slot := int(keySlot(l.posKey(k)))
			if got := slot * l.count() / slots; got != k {
				t.Fatalf("%d partitions: partition %d is in slot %d, block %d", n, k, slot, got)
			}
			per[min(slot*3/slots, 2)]++
			if kk := l.keyPart(l.streamKey("u:x")); kk != l.userPart("x") {
				t.Fatalf("keyPart %d, userPart %d", kk, l.userPart("x"))
			}
		}
		if slices.Max(per)-slices.Min(per) > 1 {
			t.Fatalf("%d partitions over three equal slot ranges: %v", n, per)
		}
	}
	// Redis's own test vector of CRC16 (XMODEM).
	if s := keySlot("123456789"); s != 0x31C3%slots {
		t.Fatalf("slot of 123456789 = %d", s)
	}
	if keySlot("a{u:bob}b") != keySlot("u:bob") {
		t.Fatal("the hash tag is not what is hashed")
	}
	l := newLayout(8)
	for _, ch := range []string{l.userCh("a:b}c"), l.roomCh("{r}"), l.broadcastCh(), l.controlCh(), l.anchor(3)} {
		if kind, _, _ := l.parse(ch); kind == chKindNone {
			t.Fatalf("%s does not parse", ch)
		}
	}
	if kind, name, k := l.parse(l.userCh("a:b}c")); kind != chKindUser || name != "a:b}c" || k != l.userPart("a:b}c") {
		t.Fatalf("user channel parses as %d %q %d", kind, name, k)
	}
}

// On a real Redis Cluster (the recipe of docs/deploy/redis/cluster): a
// push to users of many partitions reaches each once, on the node that
// holds it, with positions that grow per stream; the users' channels are
// shard channels on the primaries that own them; rooms, broadcasts,
// control and resumes work as on one Redis.
func TestRedisClusterCarriesPushesRoomsBroadcastsAndResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster of six processes")
	}
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	rc := redistest.StartCluster(t, "../../../docs/deploy/redis/cluster")
	cfg := Config{HistorySize: 100, HistoryTTL: time.Minute, Passwords: Passwords{Redis: rc.Password}}
	ea, eb := newFake(), newFake()
	a := startClusterAt(t, rc.URL()+"?partitions=16", "a", ea, cfg)
	b := startClusterAt(t, rc.URL()+"?partitions=16", "b", eb, cfg)
	ctx := context.Background()

	var users []string
	for i := range 12 {
		u := "u" + strconv.Itoa(i)
		users = append(users, u)
		eb.mu.Lock()
		eb.users[u] = 1
		eb.mu.Unlock()
		b.Arrived(u)
	}
	owners := map[int]bool{}
	waitUntil(t, func() bool {
		for _, u := range users {
			ch := b.lay.userCh(u)
			owner := rc.Owner(ch)
			n, err := owner.Client.PubSubShardNumSub(ctx, ch).Result()
			if err != nil || n[ch] != 1 {
				return false
			}
			owners[owner.Port] = true
		}
		return true
	})
	if len(owners) != 3 {
		t.Fatalf("12 users' channels are on %d primaries, want all 3", len(owners))
	}
	for _, p := range rc.Primaries() {
		if n, _ := p.Client.PubSubNumSub(ctx, b.lay.userCh(users[0])).Result(); n[b.lay.userCh(users[0])] != 0 {
			t.Fatalf("a user channel is a classic channel on %s", p.Addr())
		}
	}

	for i := range 3 {
		res, err := a.Push(ctx, "", users, json.RawMessage(strconv.Itoa(i)), "")
		if err != nil {
			t.Fatal(err)
		}
		if res.Delivered != len(users) || len(res.Online) != len(users) {
			t.Fatalf("push %d: %+v", i, res)
		}
	}
	last := map[string]history.Pos{}
	for range 3 * len(users) {
		p := eb.next(t)
		u := p.users[0]
		if p.pos <= last[u] {
			t.Fatalf("%s: position %v after %v", u, p.pos, last[u])
		}
		last[u] = p.pos
	}
	eb.none(t)

	// A retry with the same id is published once, in every partition.
	r1, err := a.Push(ctx, "id1", users, json.RawMessage(`"once"`), "")
	if err != nil || r1.Duplicate {
		t.Fatal(r1, err)
	}
	r2, err := a.Push(ctx, "id1", users, json.RawMessage(`"once"`), "")
	if err != nil || !r2.Duplicate {
		t.Fatalf("retry %+v %v", r2, err)
	}
	for range users {
		eb.next(t)
	}
	eb.none(t)

	// Resume: what came after a position, from the stream's partition.
	done := make(chan []history.Result, 1)
	b.Read(users[5], []history.Want{{After: last[users[5]]}}, func(r []history.Result) { done <- r })
	got := <-done
	if len(got) != 1 || got[0].Gap || len(got[0].Entries) != 1 {
		t.Fatalf("resume %+v", got)
	}

	// Rooms, broadcasts, control.
	eb.mu.Lock()
	eb.rooms["chat"] = true
	eb.mu.Unlock()
	b.Joined("chat")
	waitUntil(t, func() bool {
		ch := b.lay.roomCh("chat")
		n, err := rc.Owner(ch).Client.PubSubShardNumSub(ctx, ch).Result()
		return err == nil && n[ch] == 1
	})
	if _, err := a.Publish(ctx, "", "chat", json.RawMessage(`"room"`), ""); err != nil {
		t.Fatal(err)
	}
	if p := eb.next(t); p.kind != "room" || p.room != "chat" {
		t.Fatalf("room delivery %+v", p)
	}
	if _, err := a.Broadcast(ctx, "", json.RawMessage(`"all"`)); err != nil {
		t.Fatal(err)
	}
	ea.next(t)
	eb.next(t)
	if err := a.Control(ctx, "kick", "", []string{users[0]}); err != nil {
		t.Fatal(err)
	}
	if p := eb.next(t); p.kind != "control" {
		t.Fatalf("control delivery %+v", p)
	}
	if ps, err := a.Presence(ctx, users[3]); err != nil || ps.Connections != 1 {
		t.Fatalf("presence %+v %v", ps, err)
	}
}

// A node whose calls never failed across a short Redis outage (go-redis
// replaces dead pooled connections silently) still writes its presence
// again: a new connection to another Redis instance (another run id) makes
// it register again.
func TestANewRedisInstanceMakesTheNodeWriteItsPresenceAgain(t *testing.T) {
	r, _, _, b, eb := start(t)
	eb.mu.Lock()
	eb.users["al"] = 1
	eb.mu.Unlock()
	b.Arrived("al")
	r.WaitSubs("wspush:u:al", 1)
	ctx := context.Background()
	waitUntil(t, func() bool { return r.Client.Exists(ctx, "wspush:p:al").Val() == 1 })
	// As if Redis had restarted empty between two heartbeats of b: its
	// presence is gone, and b's next connection meets a new run id.
	if err := r.Client.Del(ctx, "wspush:p:al").Err(); err != nil {
		t.Fatal(err)
	}
	other := "an-instance-before-the-restart"
	b.runID.Store(&other)
	if err := r.Client.ClientKillByFilter(ctx, "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return r.Client.HGet(ctx, "wspush:p:al", "b").Val() == "1" })
}

// A resharding mid-traffic: the slot of a user's partition moves to
// another primary between pushes. go-redis follows MOVED for the scripts;
// Redis unsubscribes the node from the partition's shard channels on the
// old owner, and the node subscribes again on the new one and catches the
// stream up: every push answered arrives once, in order.
func TestRedisClusterReshardingKeepsEveryPush(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster of six processes")
	}
	rc := redistest.StartCluster(t, "../../../docs/deploy/redis/cluster")
	cfg := Config{HistorySize: 100, HistoryTTL: time.Minute, Passwords: Passwords{Redis: rc.Password}}
	ea, eb := newFake(), newFake()
	a := startClusterAt(t, rc.URL()+"?partitions=16", "a", ea, cfg)
	b := startClusterAt(t, rc.URL()+"?partitions=16", "b", eb, cfg)
	ctx := context.Background()
	eb.mu.Lock()
	eb.users["al"] = 1
	eb.mu.Unlock()
	b.Arrived("al")
	ch := b.lay.userCh("al")
	waitUntil(t, func() bool {
		n, err := rc.Owner(ch).Client.PubSubShardNumSub(ctx, ch).Result()
		return err == nil && n[ch] == 1
	})
	from := rc.Owner(ch)
	var to *redistest.Proc
	for _, p := range rc.Primaries() {
		if p != from {
			to = p
		}
	}
	done := make(chan int)
	go func() {
		n := 0
		defer func() { done <- n }()
		for i := 1; i <= 200; i++ {
			for try := 0; ; try++ {
				_, err := a.Push(ctx, "m"+strconv.Itoa(i), []string{"al"}, json.RawMessage(strconv.Itoa(i)), "")
				if err == nil {
					n = i
					break
				}
				if try > 50 {
					t.Errorf("push %d: %v", i, err)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	time.Sleep(100 * time.Millisecond)
	rc.MoveSlot(ch, to)
	sent := <-done
	// Every push answered arrives once, in order; the moved partition
	// carries the other primary's epoch, which the new owner cannot tell
	// from a failover's: its stream gets a gap notice, and what was
	// published before the bound may only be behind it.
	var last history.Pos
	got, gaps, missing := 0, 0, 0
	for got < sent {
		p := eb.next(t)
		switch {
		case p.kind == "gap":
			gaps++
			last = max(last, p.pos)
		case p.kind == "users" && p.pos > last:
			n := int(p.env["data"].(float64))
			if n <= got {
				t.Fatalf("push %d after %d", n, got)
			}
			if n != got+1 && gaps == 0 {
				t.Fatalf("push %d after %d without a gap notice", n, got)
			}
			missing += n - got - 1
			got, last = n, p.pos
		default:
			t.Fatalf("delivery %+v after %v", p, last)
		}
	}
	eb.none(t)
	t.Logf("%d pushes, the slot moved mid-way: %d gap notices, %d pushes behind them, %d re-subscriptions", sent, gaps, missing, b.reshards.Load())
	if rc.Owner(ch) != to {
		t.Fatal("the slot did not move")
	}
	waitUntil(t, func() bool {
		n, err := to.Client.PubSubShardNumSub(ctx, ch).Result()
		return err == nil && n[ch] == 1
	})
	if b.reshards.Load() == 0 {
		t.Fatal("the node did not subscribe again on the new owner")
	}
}

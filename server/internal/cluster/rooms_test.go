package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/wspush/wspush/server/internal/redistest"
	"github.com/wspush/wspush/server/internal/wire"
)

// members pages through room on cl by limit.
func members(t testing.TB, cl *Cluster, room string, limit int) ([]string, int) {
	t.Helper()
	var all []string
	after, n := "", 0
	for {
		pg, err := cl.RoomMembers(context.Background(), room, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		all, n = append(all, pg.Members...), pg.Users
		if pg.Next == "" {
			return all, n
		}
		after = pg.Next
	}
}

// join puts user in room on e, as the engine's loops do, and tells cl.
func join(cl *Cluster, e *fakeEngine, room, user string) {
	if e.roster.Add(room, user) {
		cl.Member(room, user)
	}
}

func leave(cl *Cluster, e *fakeEngine, room, user string) {
	if e.roster.Remove(room, user) {
		cl.Member(room, user)
	}
}

// Each node writes its members to Redis; any node pages through the
// union, each user once; a node that leaves the cluster drops out.
func TestRoomPagesMergeTheNodes(t *testing.T) {
	_, a, ea, b, eb := start(t)
	for i := range 30 {
		join(a, ea, "chat", fmt.Sprintf("u%02d", 2*i))
		join(b, eb, "chat", fmt.Sprintf("u%02d", 2*i+1))
	}
	join(b, eb, "chat", "u00") // on both
	join(b, eb, "other", "u01")
	var want []string
	for i := range 60 {
		want = append(want, fmt.Sprintf("u%02d", i))
	}
	waitErr(t, func() error {
		if _, n := members(t, a, "chat", 7); n != 61 {
			return fmt.Errorf("chat counts %d", n)
		}
		return nil
	})
	for _, cl := range []*Cluster{a, b} {
		for _, limit := range []int{1, 7, 60, 100} {
			if got, _ := members(t, cl, "chat", limit); !slices.Equal(got, want) {
				t.Fatalf("limit %d: %v", limit, got)
			}
		}
		pg, err := cl.RoomList(context.Background(), "", 1)
		if err != nil || len(pg.Rooms) != 1 || pg.Rooms[0] != (wire.RoomCount{Room: "chat", Users: 61}) || pg.Next != "chat" {
			t.Fatalf("rooms %+v %v", pg, err)
		}
		pg, _ = cl.RoomList(context.Background(), pg.Next, 1)
		if len(pg.Rooms) != 1 || pg.Rooms[0] != (wire.RoomCount{Room: "other", Users: 1}) || pg.Next != "" {
			t.Fatalf("rooms after chat %+v", pg)
		}
	}
	leave(a, ea, "chat", "u00")
	waitErr(t, func() error {
		if got, n := members(t, b, "chat", 100); n != 60 || got[0] != "u00" {
			return fmt.Errorf("after u00 left a: %d %v", n, got[:2])
		}
		return nil
	})
	b.Close() // takes b out of the nodes alive
	if got, n := members(t, a, "chat", 100); n != 29 || len(got) != 29 || got[0] != "u02" {
		t.Fatalf("without b: %d %v", n, got)
	}
	if pg, _ := a.RoomList(context.Background(), "", 10); len(pg.Rooms) != 1 || pg.Rooms[0].Users != 29 {
		t.Fatalf("rooms without b: %+v", pg)
	}
}

// A node that starts again under its name, or finds Redis empty, writes
// its rooms whole: what it held before it is gone, what it holds is back.
func TestRoomsAreWrittenWholeAtRegister(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	r := redistest.Start(t)
	ctx := context.Background()
	// What a node of that name left behind.
	r.Client.ZAdd(ctx, keyNodeRooms+"a", redisZ("stale"))
	r.Client.ZAdd(ctx, memberKey("a", "stale"), redisZ("ghost"))
	e := newFake()
	e.roster.Add("chat", "ann")
	e.roster.Add("chat", "bob")
	a := startCluster(t, r, "a", e, Config{})
	waitErr(t, func() error {
		if got, _ := members(t, a, "chat", 10); strings.Join(got, ",") != "ann,bob" {
			return fmt.Errorf("chat %v", got)
		}
		return nil
	})
	if got, _ := members(t, a, "stale", 10); len(got) != 0 {
		t.Fatalf("stale members %v", got)
	}
	if a.resyncs.Load() == 0 {
		t.Fatal("no resync counted")
	}
	// Redis restarts empty: the node writes its rooms again.
	r.Kill()
	waitErr(t, func() error {
		if a.Up() {
			return fmt.Errorf("the node has not noticed the outage")
		}
		return nil
	})
	r.Restart()
	waitErr(t, func() error {
		if !a.Up() {
			return fmt.Errorf("not back")
		}
		if got, _ := members(t, a, "chat", 10); strings.Join(got, ",") != "ann,bob" {
			return fmt.Errorf("chat after the restart %v", got)
		}
		return nil
	})
}

// waitErr polls f until it returns nil, for up to 10 s.
func waitErr(t testing.TB, f func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkRoomMembersPage reads a page of 100 users from the middle of a
// room of 100,000 on one node, through Redis: the nodes alive, then each
// node's ZRANGEBYLEX and ZCARD, two round trips whatever the room's size.
//
//	go test -run '^$' -bench RoomMembersPage ./server/internal/cluster/
func BenchmarkRoomMembersPage(b *testing.B) {
	r := redistest.Start(b)
	e := newFake()
	for _, size := range []int{1000, 100000} {
		room := "big" + strconv.Itoa(size)
		for i := range size {
			e.roster.Add(room, fmt.Sprintf("user-%06d", i))
		}
	}
	cl := startCluster(b, r, "a", e, Config{})
	for _, size := range []int{1000, 100000} {
		room := "big" + strconv.Itoa(size)
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			waitErr(b, func() error {
				if pg, err := cl.RoomMembers(context.Background(), room, "", 1); err != nil || pg.Users != size {
					return fmt.Errorf("%s: %d users, %v", room, pg.Users, err)
				}
				return nil
			})
			after := fmt.Sprintf("user-%06d", size/2)
			b.ReportAllocs()
			for b.Loop() {
				if pg, err := cl.RoomMembers(context.Background(), room, after, 100); err != nil || len(pg.Members) != 100 {
					b.Fatal(len(pg.Members), err)
				}
			}
		})
	}
}

func redisZ(member string) redis.Z { return redis.Z{Member: member} }

// With Replicas a batch is answered once that many replicas have all its
// messages: one WAIT ends its pipeline; a replica that does not
// acknowledge in time makes every message ErrReplicas, and the retry of
// the batch, with the ids, is answered once it has.
func TestBatchWaitsForTheReplica(t *testing.T) {
	s := redistest.StartReplicated(t, "../../../docs/deploy/redis/sentinel", 1, 0)
	e := newFake()
	cl := startClusterAt(t, s.PrimaryURL(), "a", e, Config{HistorySize: 10, HistoryTTL: time.Minute, Replicas: 1})
	ctx := context.Background()
	batch := func(tag string) []wire.Push {
		return []wire.Push{
			{ID: tag + "-1", Users: []string{"al"}, Data: []byte(`1`)},
			{ID: tag + "-2", Users: []string{"bo"}, Data: []byte(`2`)},
		}
	}
	for i, r := range cl.PushBatch(ctx, batch("x")) {
		if r.Err != nil {
			t.Fatalf("message %d: %v", i, r.Err)
		}
	}
	s.Replicas[0].Stop()
	for i, r := range cl.PushBatch(ctx, batch("y")) {
		if !errors.Is(r.Err, ErrReplicas) {
			t.Fatalf("message %d without the replica: %v, want ErrReplicas", i, r.Err)
		}
	}
	s.Replicas[0].Cont()
	for i, r := range cl.PushBatch(ctx, batch("y")) {
		if r.Err != nil || !r.Result.Duplicate {
			t.Fatalf("message %d of the retry: %+v, want a 200 for the duplicate", i, r)
		}
	}
	if k := cl.Counters().Unreplicated; k != 2 {
		t.Fatalf("%d unreplicated, want 2", k)
	}
}

package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wspush/wspush/frame"
	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/redistest"
)

// The cluster against a fake engine and a real redis-server: no gnet, no
// sockets but Redis's. What the fake records is what a node's loops would
// have been asked to deliver.

// post is one delivery the cluster asked of the engine.
type post struct {
	kind  string // "users", "room", "all", "control"
	users []string
	room  string
	pos   history.Pos
	env   map[string]any // the envelope, decoded
	wait  bool           // a Deliver* (the caller waited), not a Post*
}

// fakeEngine holds the users and rooms a test says are local, and records
// every delivery.
type fakeEngine struct {
	mu    sync.Mutex
	users map[string]int
	rooms map[string]bool
	posts chan post
	id    uint64
	busy  bool // Post* refuse, as a full outbox
}

func newFake() *fakeEngine {
	return &fakeEngine{users: map[string]int{}, rooms: map[string]bool{}, posts: make(chan post, 10000)}
}

func decode(f []byte) map[string]any {
	_, n, _ := frame.ParseHeader(f)
	var env map[string]any
	_ = json.Unmarshal(f[n:], &env)
	return env
}

func (e *fakeEngine) record(p post, f []byte) error {
	if f != nil {
		p.env = decode(f)
	}
	e.mu.Lock()
	busy := e.busy
	e.mu.Unlock()
	if busy && !p.wait {
		return errors.New("busy")
	}
	e.posts <- p
	return nil
}

func (e *fakeEngine) DeliverUsers(_ context.Context, users []string, f []byte, p history.Pos) (int, []string, []string, error) {
	return len(users), users, nil, e.record(post{kind: "users", users: users, pos: p, wait: true}, f)
}
func (e *fakeEngine) DeliverRoom(_ context.Context, room string, f []byte, p history.Pos) (int, error) {
	return 1, e.record(post{kind: "room", room: room, pos: p, wait: true}, f)
}
func (e *fakeEngine) DeliverAll(_ context.Context, f []byte) (int, error) {
	return 1, e.record(post{kind: "all", wait: true}, f)
}
func (e *fakeEngine) PostUsers(users []string, f []byte, p history.Pos) error {
	return e.record(post{kind: "users", users: users, pos: p}, f)
}
func (e *fakeEngine) PostRoom(room string, f []byte, p history.Pos) error {
	return e.record(post{kind: "room", room: room, pos: p}, f)
}
func (e *fakeEngine) PostAll(f []byte) error { return e.record(post{kind: "all"}, f) }
func (e *fakeEngine) PostControl(op, room string, users []string) error {
	return e.record(post{kind: "control", room: room, users: append([]string{op}, users...)}, nil)
}
func (e *fakeEngine) UserConns(user string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.users[user]
}
func (e *fakeEngine) HasRoom(room string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rooms[room]
}
func (e *fakeEngine) LocalUsers(context.Context) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var us []string
	for u, n := range e.users {
		if n > 0 {
			us = append(us, u)
		}
	}
	return us
}
func (e *fakeEngine) Counts() (int64, int) { return 0, 0 }
func (e *fakeEngine) NextID() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.id++
	return e.id
}

// next waits for the engine's next delivery.
func (e *fakeEngine) next(t *testing.T) post {
	t.Helper()
	select {
	case p := <-e.posts:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery within 10 s")
	}
	return post{}
}

// none checks that nothing more was delivered by the time a marker sent
// after it arrives.
func (e *fakeEngine) none(t *testing.T) {
	t.Helper()
	select {
	case p := <-e.posts:
		t.Fatalf("unexpected delivery %+v", p)
	default:
	}
}

func startCluster(t *testing.T, r *redistest.Server, node string, e *fakeEngine, cfg Config) *Cluster {
	t.Helper()
	cfg.Redis, cfg.Node = r.URL(), node
	cl, err := New(cfg, e)
	if err != nil {
		t.Fatal(err)
	}
	cl.Start()
	t.Cleanup(cl.Close)
	return cl
}

func start(t *testing.T) (*redistest.Server, *Cluster, *fakeEngine, *Cluster, *fakeEngine) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	r := redistest.Start(t)
	cfg := Config{HistorySize: 10, HistoryTTL: time.Minute}
	ea, eb := newFake(), newFake()
	return r, startCluster(t, r, "a", ea, cfg), ea, startCluster(t, r, "b", eb, cfg), eb
}

func TestPushReachesTheNodeWithTheUserOnceWithItsPosition(t *testing.T) {
	r, a, ea, b, eb := start(t)
	eb.users["al"] = 1
	b.Note("al")
	r.WaitSubs("wspush:u:al", 1)
	res, err := a.Push(context.Background(), []string{"al", "ghost"}, json.RawMessage(`{"n":1}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Delivered != 1 || !slices.Equal(res.Online, []string{"al"}) || !slices.Equal(res.Offline, []string{"ghost"}) {
		t.Fatalf("result %+v", res)
	}
	p := eb.next(t)
	if p.kind != "users" || !slices.Equal(p.users, []string{"al"}) || p.pos == 0 || p.env["pos"] != p.pos.String() || p.wait {
		t.Fatalf("delivery %+v", p)
	}
	ea.none(t)
}

func TestRoomAndBroadcastReachEveryNodeWithReceivers(t *testing.T) {
	r, a, ea, b, eb := start(t)
	eb.rooms["chat"] = true
	b.NoteRoom("chat")
	r.WaitSubs("wspush:r:chat", 1)
	if _, err := a.Publish(context.Background(), "chat", json.RawMessage(`"hi"`), "bob"); err != nil {
		t.Fatal(err)
	}
	if p := eb.next(t); p.kind != "room" || p.room != "chat" || p.env["from"] != "bob" || p.env["room"] != "chat" {
		t.Fatalf("room delivery %+v", p)
	}
	if _, err := a.Broadcast(context.Background(), json.RawMessage(`"all"`)); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*fakeEngine{ea, eb} {
		if p := e.next(t); p.kind != "all" || p.pos != 0 || p.env["data"] != "all" {
			t.Fatalf("broadcast delivery %+v", p)
		}
	}
}

func TestControlReachesTheOtherNodesOnly(t *testing.T) {
	_, a, ea, _, eb := start(t)
	a.Control(context.Background(), "kick", "", []string{"al"})
	if p := eb.next(t); p.kind != "control" || !slices.Equal(p.users, []string{"kick", "al"}) {
		t.Fatalf("control %+v", p)
	}
	ea.none(t)
}

// Client publishes go through the publisher, many in one pipeline, and
// arrive in the order they were queued, each with a later position.
func TestClientPublishesArePipelinedInOrder(t *testing.T) {
	const n = 500
	r, a, _, b, eb := start(t)
	eb.rooms["r"] = true
	b.NoteRoom("r")
	r.WaitSubs("wspush:r:r", 1)
	for i := range n {
		if err := a.QueuePublish("r", []byte(strconv.Itoa(i)), "al"); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	var last history.Pos
	for i := range n {
		p := eb.next(t)
		if p.env["data"] != float64(i) || p.pos <= last {
			t.Fatalf("publish %d arrived as data %v at %v after %v", i, p.env["data"], p.pos, last)
		}
		last = p.pos
	}
	if k := a.Counters(); k.Published != n || k.LocalOnly != 0 {
		t.Fatalf("counters %+v", k)
	}
}

// A resume reads the user's stream from Redis and gets what followed the
// client's position, through the one recovery algorithm.
func TestReadServesAResumeFromRedis(t *testing.T) {
	r, a, _, b, eb := start(t)
	eb.users["al"] = 1
	b.Note("al")
	r.WaitSubs("wspush:u:al", 1)
	var ps []history.Pos
	for i := range 3 {
		if _, err := a.Push(context.Background(), []string{"al"}, json.RawMessage(strconv.Itoa(i)), ""); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, eb.next(t).pos)
	}
	got := make(chan []history.Result, 1)
	b.Read("al", []history.Want{{After: ps[0]}, {Room: "quiet"}}, func(res []history.Result) { got <- res })
	res := <-got
	if len(res) != 1 || res[0].Gap || len(res[0].Entries) != 2 || res[0].Entries[0].Pos != ps[1] || res[0].Last != ps[2] {
		t.Fatalf("resume %+v", res)
	}
	if env := decode(res[0].Entries[1].Frame); env["data"] != 2.0 {
		t.Fatalf("replayed %v", env)
	}
}

// A Redis that hangs holds up no loop and no client: client publishes are
// queued up to the cap and refused past it, never waited for; when Redis
// goes on, what was queued is published and delivered.
func TestHungRedisRefusesPastTheQueueAndCatchesUp(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	r := redistest.Start(t)
	ea, eb := newFake(), newFake()
	a := startCluster(t, r, "a", ea, Config{MaxQueue: 8})
	b := startCluster(t, r, "b", eb, Config{})
	eb.rooms["r"] = true
	b.NoteRoom("r")
	r.WaitSubs("wspush:r:r", 1)
	r.Stop()
	took, refused := 0, 0
	for i := range 200 {
		switch err := a.QueuePublish("r", []byte(strconv.Itoa(i)), ""); {
		case err == nil:
			took++
		case errors.Is(err, ErrBusy):
			refused++
		default:
			t.Fatal(err)
		}
	}
	if refused == 0 || took > 8+maxPipeline {
		t.Fatalf("took %d, refused %d with a queue of 8: the queue is not bounded", took, refused)
	}
	r.Cont()
	// What the publisher held reaches b, or, if Redis timed out first,
	// a's own engine: either way none is lost.
	seen := 0
	for seen < took {
		select {
		case <-eb.posts:
			seen++
		case <-ea.posts:
			seen++
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d queued publishes delivered", seen, took)
		}
	}
	if k := a.Counters(); k.Dropped != int64(refused) {
		t.Fatalf("dropped counted %d, refused %d", k.Dropped, refused)
	}
}

// When Redis dies, a push is delivered to this node's connections and
// counted; when it comes back, the node says so and pushes cross nodes
// again.
func TestRedisDownFallsBackToLocalAndRecovers(t *testing.T) {
	r, a, ea, b, eb := start(t)
	eb.users["al"] = 1
	b.Note("al")
	r.WaitSubs("wspush:u:al", 1)
	r.Kill()
	res, err := a.Push(context.Background(), []string{"al"}, json.RawMessage(`"local"`), "")
	if err != nil {
		t.Fatal(err)
	}
	if p := ea.next(t); p.kind != "users" || !p.wait || p.env["data"] != "local" || res.Delivered != 1 {
		t.Fatalf("local delivery %+v, result %+v", p, res)
	}
	if a.Up() || a.Counters().LocalOnly != 1 {
		t.Fatalf("up %v, local only %d", a.Up(), a.Counters().LocalOnly)
	}
	r.Restart()
	r.WaitSubs("wspush:u:al", 1)
	deadline := time.Now().Add(10 * time.Second)
	for !a.Up() {
		if time.Now().After(deadline) {
			t.Fatal("node a never saw Redis come back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := a.Push(context.Background(), []string{"al"}, json.RawMessage(`"back"`), ""); err != nil {
		t.Fatal(err)
	}
	if p := eb.next(t); p.env["data"] != "back" {
		t.Fatalf("after the restart %+v", p)
	}
}

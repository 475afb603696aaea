package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/redis/go-redis/v9"

	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/wire"
)

// The receiver delivers what Redis publishes to this node's loops, on a
// path of its own: a worker or publisher waiting on a slow Redis does not
// hold it up. It also serves resumes, between two messages it delivers,
// which is what makes a cluster resume exactly once: whatever Redis
// published before the read the replay holds (and the connection,
// holding, skipped live); whatever after reaches the loop after the
// replay.

// receive is the receiver's goroutine.
func (cl *Cluster) receive() {
	defer cl.wg.Done()
	late := time.NewTicker(redisWait / 4)
	defer late.Stop()
	for {
		select {
		case <-cl.stop:
			for _, j := range cl.parked {
				j.fail()
			}
			return
		case m := <-cl.msgs:
			cl.handle(m)
		case j := <-cl.ready:
			cl.parked = append(cl.parked, j)
			cl.serveReady()
		case <-late.C:
			if len(cl.parked) > 0 {
				cl.serveReady()
			}
		}
	}
}

// deliver hands a message from Redis to the loops: "POS ENVELOPE" on the
// channel of its receivers. The envelope is copied once, into its frame.
func (cl *Cluster) deliver(m *redis.Message) {
	cl.received.Add(1)
	kind, name, part := cl.lay.parse(m.Channel)
	if kind == chKindControl {
		cl.applyControl(m.Payload)
		return
	}
	ps, env, ok := strings.Cut(m.Payload, " ")
	p, perr := history.ParsePos(ps)
	// What goes to clients must be what a node published: a push
	// envelope, valid UTF-8 and JSON (a text frame of anything else makes
	// browsers close with 1007).
	if !ok || perr != nil || !strings.HasPrefix(env, `{"type":"push",`) || !utf8.ValidString(env) || !json.Valid(unsafe.Slice(unsafe.StringData(env), len(env))) {
		cl.reject("message that is not a push envelope")
		return
	}
	cl.observe(part, p)
	if cl.History() && kind != chKindBroadcast {
		// Once per stream, in order: a catch-up may have delivered it.
		if p <= cl.last[m.Channel] {
			return
		}
		cl.last[m.Channel] = p
	} else {
		p = 0
	}
	f := wire.TextFrame(env)
	var err error
	switch kind {
	case chKindBroadcast:
		err = cl.eng.PostAll(f)
	case chKindRoom:
		err = cl.eng.PostRoom(name, f, p)
	case chKindUser:
		err = cl.eng.PostUsers([]string{name}, f, p)
	}
	if err != nil {
		cl.dropped.Add(1)
	}
}

// Read queues a resume of user's streams, to be read from Redis once this
// node is subscribed to them; done gets the results on the receiver. It
// implements history.Store and never blocks: past Config.MaxQueue waiting
// resumes, done gets gaps at once.
func (cl *Cluster) Read(user string, want []history.Want, done func([]history.Result)) {
	j := resumeJob{user: user, want: want, done: done}
	cl.mu.Lock()
	if len(cl.resumes) >= cl.cfg.MaxQueue {
		cl.mu.Unlock()
		cl.dropped.Add(1)
		j.fail()
		return
	}
	cl.users[user] = struct{}{}
	for _, sp := range want {
		if sp.Room != "" {
			cl.rooms[sp.Room] = struct{}{}
		}
	}
	cl.resumes = append(cl.resumes, j)
	cl.mu.Unlock()
	cl.kick()
}

// errUnread is the error of a resume that could not be read.
var errUnread = errors.New("cluster: the history could not be read")

// fail answers j with a gap for every stream: nothing can be promised.
func (j resumeJob) fail() {
	var got []history.Result
	for _, sp := range j.want {
		if sp.After == 0 && sp.Room != "" {
			continue
		}
		got = append(got, history.Recover(sp, history.Read{Err: errUnread}))
	}
	j.done(got)
}

// handle acts on what the subscription channel carried: a message, or a
// run of subscription confirmations, taken together so that a node that
// subscribes again to thousands of streams catches them up in a few
// pipelined reads.
func (cl *Cluster) handle(m any) {
	for m != nil {
		switch x := m.(type) {
		case *redis.Message:
			cl.deliver(x)
			return
		case *redis.Subscription:
			if x.Kind == "unsubscribe" {
				cl.forget(x.Channel)
				return
			}
			if x.Kind == "sunsubscribe" {
				cl.unsubscribed(x.Channel)
				return
			}
			var chs []string
			if x.Kind == "subscribe" || x.Kind == "ssubscribe" {
				chs = append(chs, x.Channel)
			}
			m = nil
		more:
			for len(chs) < 1024 {
				select {
				case next := <-cl.msgs:
					if s, ok := next.(*redis.Subscription); ok && s.Kind != "unsubscribe" && s.Kind != "sunsubscribe" {
						if s.Kind == "subscribe" || s.Kind == "ssubscribe" {
							chs = append(chs, s.Channel)
						}
						continue
					}
					m = next // handled after the confirmations
					break more
				default:
					break more
				}
			}
			cl.confirmed(chs)
		default:
			return
		}
	}
}

// forget drops the record of a channel this node no longer subscribes to,
// once Redis has confirmed it: nothing more comes on it, and the records
// would otherwise grow with every user and room the node ever held. A
// later subscription starts a new record from Redis's position then (the
// user's new connection resumes from the history for what came between).
func (cl *Cluster) forget(ch string) {
	delete(cl.last, ch)
	cl.followed.Store(int64(len(cl.last)))
}

// confirmed notes Redis's confirmation of subscriptions and serves the
// resumes that waited for them. A stream's first confirmation starts its
// record of what this node delivered; a later one is go-redis subscribing
// again after it lost Redis: the node catches the stream up, before any
// message that follows the subscription.
func (cl *Cluster) confirmed(chs []string) {
	starts := make([]history.Pos, len(chs))
	cl.umu.Lock()
	for i, ch := range chs {
		delete(cl.unconfirmed, ch)
		starts[i] = cl.startAt[ch]
		delete(cl.startAt, ch)
	}
	cl.umu.Unlock()
	if cl.History() {
		var again []string
		for i, ch := range chs {
			if kind, _, _ := cl.lay.parse(ch); kind != chKindUser && kind != chKindRoom {
				continue
			}
			if _, seen := cl.last[ch]; seen {
				again = append(again, ch)
			} else {
				// What this node receives on ch was published after the
				// worker subscribed, so after Redis's last position then.
				cl.last[ch] = starts[i]
			}
		}
		for len(again) > 0 {
			n := min(len(again), 256)
			cl.catchUp(again[:n])
			again = again[n:]
		}
		cl.followed.Store(int64(len(cl.last)))
	}
	if len(cl.parked) > 0 {
		cl.serveReady()
	}
}

// catchUp delivers what each stream channel of chs had after the last
// position this node delivered: messages published while the node was not
// subscribed (Redis restarted, or the node's connection to it was cut),
// read in one pipeline. Where the history no longer covers the hole, the
// stream's connections get a gap notice and resume from its floor. It runs
// on the receiver.
func (cl *Cluster) catchUp(chs []string) {
	type stream struct {
		ch    string
		users []string
		room  string
		key   string
		info  *redis.XInfoStreamCmd
		rng   *redis.XMessageSliceCmd
	}
	ss := make([]stream, 0, len(chs))
	for _, ch := range chs {
		switch kind, name, _ := cl.lay.parse(ch); kind {
		case chKindUser:
			ss = append(ss, stream{ch: ch, users: []string{name}, key: cl.lay.streamKey(history.UserStream(name))})
		case chKindRoom:
			ss = append(ss, stream{ch: ch, room: name, key: cl.lay.streamKey(history.RoomStream(name))})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisWait)
	defer cancel()
	fl := cl.newFloors()
	_, err := cl.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range ss {
			fl.check(ctx, p, ss[i].key) // a Redis that restarted empty gets its since now
		}
		for i := range ss {
			s := &ss[i]
			key := s.key
			s.info = p.XInfoStream(ctx, key)
			s.rng = p.XRangeN(ctx, key, "("+cl.last[s.ch].String(), "+", int64(cl.cfg.HistorySize))
		}
		return nil
	})
	for _, s := range ss {
		after := cl.last[s.ch]
		res := history.Recover(history.Want{Room: s.room, After: after}, cl.read(fl.of(s.key), s.info, s.rng, err, after))
		cl.catchups.Add(1)
		if res.Gap {
			// The gap, then what the stream kept after it.
			cl.gaps.Add(1)
			if err := cl.eng.PostGap(s.users, s.room, res.From); err != nil {
				cl.dropped.Add(1)
			}
			cl.last[s.ch] = max(after, res.From)
		}
		for _, e := range res.Entries {
			var err error
			if s.room != "" {
				err = cl.eng.PostRoom(s.room, e.Frame, e.Pos)
			} else {
				err = cl.eng.PostUsers(s.users, e.Frame, e.Pos)
			}
			if err != nil {
				cl.dropped.Add(1)
			}
			cl.last[s.ch] = e.Pos
			cl.caught.Add(1)
		}
	}
}

// read turns the answers of one stream's reads into a history.Read.
func (cl *Cluster) read(f floor, info *redis.XInfoStreamCmd, rng *redis.XMessageSliceCmd, err error, after history.Pos) history.Read {
	r := history.Read{Last: after, Floor: history.MakePos(time.Now().Add(-cl.cfg.HistoryTTL).UnixMilli(), 0)}
	sp, serr := history.ParsePos(f.since)
	if serr != nil {
		// The read set since first (sinceScript): without it, Redis did
		// not answer; a floor from this node's clock could hide
		// positions Redis gives (docs/cluster.md).
		r.Err = serr
		return r
	}
	r.Floor = max(r.Floor, sp)
	floorLost(&r, f.lost) // a failover may have lost writes up to it (epoch.go)
	if in, ierr := info.Result(); ierr == nil {
		if md, err := history.ParsePos(in.MaxDeletedEntryID); err == nil {
			r.Floor = max(r.Floor, md)
		}
	}
	msgs, rerr := rng.Result()
	if err != nil && rerr != nil && !isNoKey(rerr) && !errors.Is(rerr, redis.Nil) {
		r.Err = rerr // Redis did not answer: we cannot know
		return r
	}
	for _, x := range msgs {
		p, perr := history.ParsePos(x.ID)
		env, _ := x.Values["m"].(string)
		if perr != nil || env == "" {
			continue
		}
		r.Entries = append(r.Entries, history.Entry{Pos: p, Frame: wire.TextFrame(env)})
		r.Last = p
	}
	return r
}

// serveReady serves the parked resumes whose channels are all confirmed,
// or have waited redisWait for it (Redis is down: the resume gets gaps).
func (cl *Cluster) serveReady() {
	var ready, wait []resumeJob
	now := time.Now()
	cl.umu.Lock()
	for _, j := range cl.parked {
		ok := true
		for _, ch := range j.channels(cl.lay) {
			if t, pending := cl.unconfirmed[ch]; pending && now.Sub(t) < redisWait {
				ok = false
			}
		}
		if ok {
			ready = append(ready, j)
		} else {
			wait = append(wait, j)
		}
	}
	cl.umu.Unlock()
	cl.parked = wait
	if len(ready) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), redisWait)
		cl.serveResumes(ctx, ready)
		cancel()
	}
}

// channels are the channels whose messages a resume replays.
func (j resumeJob) channels(lay *layout) []string {
	chs := []string{lay.userCh(j.user)}
	for _, sp := range j.want {
		if sp.Room != "" {
			chs = append(chs, lay.roomCh(sp.Room))
		}
	}
	return chs
}

// serveResumes reads the streams of resuming connections from Redis and
// hands each its replay. It runs on the receiver, between two messages it
// delivers: whatever Redis published before the read the replay holds,
// and the connection, holding, skipped it live; whatever after, reaches
// the loop after the replay.
func (cl *Cluster) serveResumes(ctx context.Context, jobs []resumeJob) {
	type reads struct {
		key  string
		info *redis.XInfoStreamCmd
		rng  *redis.XMessageSliceCmd
	}
	rs := make([][]reads, len(jobs))
	fl := cl.newFloors()
	_, err := cl.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, j := range jobs {
			for _, sp := range j.want {
				if sp.After != 0 || sp.Room == "" {
					fl.check(ctx, p, cl.lay.streamKey(sp.Stream(j.user))) // a Redis that restarted empty gets its since now
				}
			}
		}
		for i, j := range jobs {
			for _, sp := range j.want {
				if sp.After == 0 && sp.Room != "" {
					rs[i] = append(rs[i], reads{})
					continue
				}
				key := cl.lay.streamKey(sp.Stream(j.user))
				rs[i] = append(rs[i], reads{
					key:  key,
					info: p.XInfoStream(ctx, key),
					rng:  p.XRangeN(ctx, key, "("+sp.After.String(), "+", int64(cl.cfg.HistorySize)),
				})
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) && !isNoKey(err) {
		cl.failed(err)
	}
	for i, j := range jobs {
		var got []history.Result
		for k, sp := range j.want {
			if rs[i][k].rng == nil {
				continue
			}
			got = append(got, history.Recover(sp, cl.read(fl.of(rs[i][k].key), rs[i][k].info, rs[i][k].rng, err, sp.After)))
		}
		j.done(got)
	}
}

// isNoKey reports the error XINFO STREAM gives for a stream that does not
// exist.
func isNoKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such key")
}

package cluster

import (
	"context"
	"errors"
	"strings"
	"time"

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
			switch m := m.(type) {
			case *redis.Message:
				cl.deliver(m)
			case *redis.Subscription:
				if m.Kind == "subscribe" {
					cl.confirmed(m.Channel)
				}
			}
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
	if m.Channel == chControl {
		cl.applyControl(m.Payload)
		return
	}
	ps, env, ok := strings.Cut(m.Payload, " ")
	if !ok {
		return
	}
	p, _ := history.ParsePos(ps)
	cl.clock.Observe(p)
	if !cl.History() {
		p = 0
	}
	f := wire.TextFrame(env)
	var err error
	switch {
	case m.Channel == chBroadcast:
		err = cl.eng.PostAll(f)
	case strings.HasPrefix(m.Channel, chRoom):
		err = cl.eng.PostRoom(m.Channel[len(chRoom):], f, p)
	case strings.HasPrefix(m.Channel, chUser):
		err = cl.eng.PostUsers([]string{m.Channel[len(chUser):]}, f, p)
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

// confirmed notes Redis's confirmation of a subscription and serves the
// resumes that waited for it.
func (cl *Cluster) confirmed(ch string) {
	cl.umu.Lock()
	delete(cl.unconfirmed, ch)
	cl.umu.Unlock()
	if len(cl.parked) > 0 {
		cl.serveReady()
	}
}

// serveReady serves the parked resumes whose channels are all confirmed,
// or have waited redisWait for it (Redis is down: the resume gets gaps).
func (cl *Cluster) serveReady() {
	var ready, wait []resumeJob
	now := time.Now()
	cl.umu.Lock()
	for _, j := range cl.parked {
		ok := true
		for _, ch := range j.channels() {
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
func (j resumeJob) channels() []string {
	chs := []string{chUser + j.user}
	for _, sp := range j.want {
		if sp.Room != "" {
			chs = append(chs, chRoom+sp.Room)
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
	type read struct {
		info *redis.XInfoStreamCmd
		rng  *redis.XMessageSliceCmd
	}
	reads := make([][]read, len(jobs))
	var since *redis.StringCmd
	_, err := cl.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		since = p.Get(ctx, keySince)
		for i, j := range jobs {
			for _, sp := range j.want {
				if sp.After == 0 && sp.Room != "" {
					reads[i] = append(reads[i], read{})
					continue
				}
				key := keyHistory + sp.Stream(j.user)
				reads[i] = append(reads[i], read{
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
	horizon := history.MakePos(time.Now().Add(-cl.cfg.HistoryTTL).UnixMilli(), 0)
	sincePos, serr := history.ParsePos(since.Val())
	if serr != nil {
		sincePos = history.MakePos(time.Now().UnixMilli(), 0) // Redis has lost its history
	}
	for i, j := range jobs {
		var got []history.Result
		for k, sp := range j.want {
			rd := reads[i][k]
			if rd.rng == nil {
				continue
			}
			r := history.Read{Last: sp.After, Floor: max(horizon, sincePos)}
			if info, ierr := rd.info.Result(); ierr == nil {
				if md, err := history.ParsePos(info.MaxDeletedEntryID); err == nil {
					r.Floor = max(r.Floor, md)
				}
			}
			msgs, rerr := rd.rng.Result()
			if err != nil && rerr != nil && !isNoKey(rerr) {
				r.Err = rerr // Redis did not answer: we cannot know
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
			got = append(got, history.Recover(sp, r))
		}
		j.done(got)
	}
}

// isNoKey reports the error XINFO STREAM gives for a stream that does not
// exist.
func isNoKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such key")
}

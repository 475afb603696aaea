package server

import (
	"context"
	"sync"

	"github.com/wspush/wspush/pool"
)

// job is one piece of fan-out work for one event loop: a shared frame for a
// room, for everyone or for a list of members, or other work on members.
type job struct {
	frame   []byte
	room    string          // publish to the loop's members of room
	all     bool            // broadcast to every member of the loop
	members []*pool.Member  // push to these members (on this loop)
	pos     pos             // the message's position in its stream (the room's or the users'); 0: none
	z       *shared         // frame, to be compressed for receivers that want it; nil: never (deflate.go)
	fn      func(*loop) int // other work on the loop (joins, kicks)
	done    chan<- int      // receives what the job counted; nil: nobody waits
}

// outbox is a loop's queue of jobs. gnet's EventLoop.Execute does not keep
// tasks in order once more than 1024 are pending (it spills them into a
// second queue that later tasks can overtake), and pushes to one
// connection must arrive in the order they were made: so jobs queue here,
// in order, and one Execute at a time drains them.
type outbox struct {
	mu     sync.Mutex
	jobs   []job
	posted bool // a drain task is queued in gnet
}

// post queues j for loop l. It is safe from any goroutine and never blocks
// on the loop. It reports false when the loop is shutting down.
func (l *loop) post(j job) bool {
	l.box.mu.Lock()
	l.box.jobs = append(l.box.jobs, j)
	kick := !l.box.posted
	l.box.posted = true
	l.box.mu.Unlock()
	if kick {
		if err := l.el.Execute(context.Background(), l.drainf); err != nil {
			l.box.mu.Lock()
			l.box.jobs, l.box.posted = nil, false
			l.box.mu.Unlock()
			return false
		}
	}
	return true
}

// drain runs every queued job, in order. It runs on the loop. Consecutive
// jobs for the same room, or consecutive broadcasts, are written together:
// one writev per receiver carries the whole run of frames.
func (l *loop) drain() {
	l.box.mu.Lock()
	jobs := l.box.jobs
	l.box.jobs, l.box.posted = l.spare[:0], false
	l.box.mu.Unlock()
	l.clock()

	for i := 0; i < len(jobs); {
		j := jobs[i]
		var n int
		end := i + 1
		switch {
		case j.fn != nil:
			n = j.fn(l)
		case j.members != nil:
			l.setRun(jobs[i:end])
			n = sendAll(j.members, j.frame, j.pos)
		default:
			size := len(j.frame)
			for end < len(jobs) && end-i < maxRun && size < maxRunBytes && sameTarget(jobs[end], j) {
				size += len(jobs[end].frame)
				end++
			}
			l.setRun(jobs[i:end])
			n = l.fanout(j, jobs[i:end])
		}
		l.setRun(nil)
		for k := i; k < end; k++ {
			if jobs[k].done != nil {
				jobs[k].done <- n
			}
		}
		i = end
	}
	clear(jobs)
	l.spare = jobs[:0]
}

// A coalesced run stays well under the kernel's IOV_MAX (1024 iovecs per
// writev) and keeps one writev to a size a socket takes in one go.
const (
	maxRun      = 64
	maxRunBytes = 64 << 10
)

func sameTarget(a, b job) bool {
	return a.fn == nil && a.members == nil && a.all == b.all && a.room == b.room
}

// fanout writes the frames of a run of jobs with one target to each of the
// loop's receivers, and counts the receivers.
func (l *loop) fanout(j job, run []job) int {
	iov := l.iov[:0]
	for _, r := range run {
		iov = append(iov, r.frame)
	}
	l.iov = iov
	n := 0
	send := func(m *pool.Member) {
		c := m.Conn.(*conn)
		if c.sess.rs != nil && !j.all {
			// Resuming: skip what the replay has sent or will send.
			if fs := c.sess.rs.filterRoom(j.room, run, l.now, l.s); len(fs) > 0 && c.sendv(fs) == nil {
				n++
			}
			return
		}
		if c.sendv(iov) == nil {
			n++
		}
	}
	if j.all {
		l.s.pool.Shard(l.idx).Each(send)
	} else {
		l.s.pool.Shard(l.idx).EachInRoom(j.room, send)
	}
	clear(l.iov)
	return n
}

// noWait is the context of a fan-out that nobody waits for: one posted
// from an event loop, which must never block, or from the cluster's
// subscriber. fan returns as soon as its jobs are posted, with a count of 0.
var noWait = context.WithValue(context.Background(), noWaitKey{}, true)

type noWaitKey struct{}

// waits reports whether work done under ctx may wait: false for noWait,
// and for a nil ctx, which is treated as noWait.
func waits(ctx context.Context) bool { return ctx != nil && ctx != noWait }

// fan posts one job per event loop for which want(i) holds, made by mk,
// and sums what the jobs count. With noWait it does not wait; otherwise it
// waits for every job or for ctx to end.
func (s *Server) fan(ctx context.Context, want func(i int) bool, mk func(l *loop) job) (int, error) {
	loops := s.loopList()
	wait := waits(ctx)
	var results chan int
	if wait {
		results = make(chan int, len(loops))
	}
	pending := 0
	var z *shared
	for _, l := range loops {
		if want != nil && !want(l.idx) {
			continue
		}
		j := mk(l)
		z = s.share(j.frame, z)
		j.z = z
		if results != nil {
			j.done = results
		}
		if l.post(j) {
			pending++
		}
	}
	total := 0
	for ; wait && pending > 0; pending-- {
		select {
		case n := <-results:
			total += n
		case <-ctx.Done():
			return total, ctx.Err()
		}
	}
	return total, nil
}

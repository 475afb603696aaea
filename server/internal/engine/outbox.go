package engine

import (
	"context"
	"sync"

	"github.com/wspush/wspush/pool"
	"github.com/wspush/wspush/server/internal/history"
)

// job is one piece of fan-out work for one event loop: a shared frame for a
// room, for everyone or for a list of members, or other work on members.
type job struct {
	frame   []byte
	room    string          // publish to the loop's members of room
	all     bool            // broadcast to every member of the loop
	members []*pool.Member  // push to these members (on this loop)
	pos     history.Pos     // the message's position in its stream (the room's or the users'); 0: none
	z       *shared         // frame, to be compressed for receivers that want it; nil: never (deflate.go)
	fn      func(*loop) int // other work on the loop (joins, kicks)
	done    chan<- int      // receives what the job counted; nil: nobody waits
}

// outbox is a loop's queue of jobs. gnet's EventLoop.Execute does not keep
// tasks in order once more than 1024 are pending (it spills them into a
// second queue that later tasks can overtake), and pushes to one
// connection must arrive in the order they were made: so jobs queue here,
// in order, and one Execute at a time drains them.
//
// The queue is bounded by Config.MaxQueue: past it post refuses a job,
// and the caller says so (an API call answers 503, a client's publish gets
// an error reply, a message from the cluster is dropped), each counted in
// wspush_outbox_refused_total. wspush_outbox_jobs is its depth.
type outbox struct {
	mu     sync.Mutex
	jobs   []job
	posted bool // a drain task is queued in gnet
}

// post queues j for loop l. It is safe from any goroutine and never blocks
// on the loop. It reports false when the queue is full or the loop is
// shutting down.
func (l *loop) post(j job) bool {
	l.box.mu.Lock()
	if len(l.box.jobs) >= l.s.cfg.MaxQueue {
		l.box.mu.Unlock()
		l.s.refused.Add(1)
		return false
	}
	l.box.jobs = append(l.box.jobs, j)
	l.queued.Store(int64(len(l.box.jobs)))
	kick := !l.box.posted
	l.box.posted = true
	l.box.mu.Unlock()
	if kick && !l.execDrain() {
		l.box.mu.Lock()
		l.box.jobs, l.box.posted = nil, false
		l.queued.Store(0)
		l.box.mu.Unlock()
		return false
	}
	return true
}

func (l *loop) execDrain() bool {
	return l.el.Execute(context.Background(), l.drainf) == nil
}

// drainBudget is how many receivers one drain serves before it yields the
// loop to its connections' own traffic and posts itself again for the
// rest. A single job is never split: a broadcast walks its whole shard.
const drainBudget = 16 << 10

// drain runs queued jobs, in order, until they are done or it has served
// drainBudget receivers. It runs on the loop. Consecutive jobs for the
// same room, or consecutive broadcasts, are written together: one writev
// per receiver carries the whole run of frames.
func (l *loop) drain() {
	l.drains.Add(1)
	l.box.mu.Lock()
	jobs := l.box.jobs
	l.box.jobs = l.spare[:0]
	l.box.mu.Unlock()
	l.clock()

	served := 0
	i := 0
	for i < len(jobs) && served < l.budget {
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
		served += max(n, 1)
		i = end
	}
	l.box.mu.Lock()
	if i < len(jobs) {
		// Out of budget: the rest goes back ahead of what came meanwhile,
		// and the drain runs again after the loop's other work.
		rest := append(jobs[i:len(jobs):len(jobs)], l.box.jobs...)
		clear(l.box.jobs)
		l.spare = l.box.jobs[:0]
		l.box.jobs = rest
		l.queued.Store(int64(len(rest)))
		l.box.mu.Unlock()
		if !l.execDrain() {
			l.box.mu.Lock()
			l.box.jobs, l.box.posted = nil, false
			l.box.mu.Unlock()
		}
		return
	}
	more := len(l.box.jobs) > 0
	l.box.posted = more
	l.queued.Store(int64(len(l.box.jobs)))
	l.box.mu.Unlock()
	clear(jobs)
	if more {
		// Jobs that came while this drain ran: their post saw it queued.
		if !l.execDrain() {
			l.box.mu.Lock()
			l.box.jobs, l.box.posted = nil, false
			l.box.mu.Unlock()
		}
	}
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
		if c.sess.resuming && !j.all {
			// Resuming: skip what the replay has sent or will send.
			if fs := c.sess.resume(l).filterRoom(j.room, run, l); len(fs) > 0 && c.sendv(fs) == nil {
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

// fan posts one job per event loop for which want(i) holds (nil: every
// loop), made by mk, and sums what the jobs count. With wait it waits for
// every job or for ctx to end; without, it returns as soon as the jobs are
// posted, with a count of 0. A loop that refuses its job (a full outbox)
// makes it return ErrBusy, after the wait for the others.
func (s *Engine) fan(ctx context.Context, wait bool, want func(i int) bool, mk func(l *loop) job) (int, error) {
	loops := s.loopList()
	var results chan int
	if wait {
		results = s.waitChan(len(loops))
	}
	pending := 0
	var err error
	var z *shared
	for _, l := range loops {
		if want != nil && !want(l.idx) {
			continue
		}
		j := mk(l)
		z = s.share(j.frame, z)
		j.z = z
		j.done = results
		if l.post(j) {
			pending++
		} else if !s.draining.Load() {
			err = ErrBusy
		}
	}
	total := 0
	for ; wait && pending > 0; pending-- {
		select {
		case n := <-results:
			total += n
		case <-ctx.Done():
			// The loops still answer on results: it is not reused.
			return total, ctx.Err()
		}
	}
	if wait {
		// Every job that was posted has answered: results is empty and
		// nobody holds it any more.
		s.waits.Put(results)
	}
	return total, err
}

// waitChan returns an empty channel with room for an answer from each of
// n loops, reused if one is free.
func (s *Engine) waitChan(n int) chan int {
	if c, ok := s.waits.Get().(chan int); ok && cap(c) >= n {
		return c
	}
	return make(chan int, n)
}

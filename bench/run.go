package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// observer shows a run's progress. Its methods may be called from
// several goroutines at once.
type observer interface {
	// phase starts a phase; total is the count the phase works towards,
	// or -1 when open ended.
	phase(name string, total int64)
	update(p progress)
	done()
}

// Run runs one benchmark and returns what it measured. It returns by
// itself: every phase is bounded, and Config.Timeout bounds the whole run.
// The error is for a run that could not be carried out; errors counted
// during the run are in Result.Errors, and Result.Pass says whether they
// stayed within Config.MaxErrors.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	return run(ctx, cfg, nil)
}

func run(ctx context.Context, cfg Config, obs observer) (*Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := checkFDs(cfg); err != nil {
		return nil, err
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	res := &Result{
		Schema:    SchemaVersion,
		Mode:      cfg.Mode,
		URL:       cfg.URL,
		Workers:   cfg.Workers,
		Conns:     ConnStats{Target: cfg.Conns},
		MaxErrors: cfg.MaxErrors,
	}
	if cfg.Mode == ModeEcho {
		res.Messages.Size = cfg.Size
	}
	if cfg.Mode == ModePush || cfg.Mode == ModeBroadcast {
		// Fail before opening thousands of connections for nothing.
		for _, base := range splitURLs(cfg.API) {
			if err := checkAPI(ctx, base, cfg.APIKey); err != nil {
				return nil, err
			}
		}
	}
	probe := newServerProbe(cfg)
	if err := probe.before(ctx); err != nil {
		res.Notes = append(res.Notes, err.Error())
	}

	var fl fleet
	if cfg.Workers > 1 {
		pf, err := startProcFleet(cfg)
		if err != nil {
			return nil, err
		}
		fl = pf
	} else {
		w, err := newWorker(cfg, 0, cfg.Conns)
		if err != nil {
			return nil, err
		}
		fl = localFleet{w}
	}
	stopWatch := watch(fl, obs)
	tl := newTimeline(start)
	res.run = &runInfo{cfg: cfg, start: start, timeline: tl}
	tl.phase("open")
	stopTimeline := tl.run(fl)

	obs = orNop(obs)
	obs.phase("open", int64(cfg.Conns))
	if err := fl.open(ctx); err != nil {
		res.Notes = append(res.Notes, "open: "+err.Error())
	}
	obs.phase(cfg.Mode, -1)
	tl.phase(cfg.Mode)
	loadStart := time.Now()
	switch cfg.Mode {
	case ModeIdle:
		sleep(ctx, cfg.Hold)
	case ModeEcho:
		_ = fl.load(ctx)
		sleep(ctx, cfg.Duration)
	case ModePush, ModeBroadcast:
		_ = fl.load(ctx)
		res.API = drive(ctx, cfg, fl, res)
	}
	loadD := time.Since(loadStart)
	if err := probe.after(ctx, fl.progress().Open); err != nil {
		res.Notes = append(res.Notes, err.Error())
	}

	obs.phase("close", -1)
	tl.phase("close")
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Grace+15*time.Second)
	defer fcancel()
	parts, ferr := fl.finish(fctx)
	stopTimeline()
	stopWatch()
	obs.done()
	if ferr != nil && len(parts) == 0 {
		return nil, ferr
	}
	if ferr != nil {
		res.Notes = append(res.Notes, ferr.Error())
	}
	if cfg.Mode == ModeBroadcast {
		res.Broadcast = &BroadcastStats{Count: cfg.Count}
	}
	res.merge(parts)
	if cfg.Workers > 1 {
		res.Bench.add(readSelf()) // the coordinator too
	}
	res.Elapsed = time.Since(start).Seconds()
	if cfg.Mode != ModeConnect && cfg.Mode != ModeIdle && loadD > 0 {
		res.Messages.PerSec = float64(res.Messages.Received) / loadD.Seconds()
	}
	if res.API != nil && loadD > 0 {
		res.API.PerSec = float64(res.API.Calls) / loadD.Seconds()
		if lost := res.API.Expected() - res.Messages.Received; lost > 0 {
			res.API.Lost = lost
			res.Failures["lost"] += lost
		}
	}
	res.Server = probe.stats(time.Since(start))
	if ctx.Err() == context.DeadlineExceeded {
		res.Notes = append(res.Notes, fmt.Sprintf("stopped by --timeout %s", cfg.Timeout))
	}
	res.finish()
	return res, nil
}

// drive makes the API calls of push and broadcast mode, then waits until
// every delivered message has arrived or Grace has passed.
func drive(ctx context.Context, cfg Config, fl fleet, res *Result) *APIStats {
	parallel := 16
	if cfg.Mode == ModeBroadcast {
		parallel = 1 // one fan-out at a time, so each is timed alone
	}
	api := newAPIClient(cfg.API, cfg.APIKey, parallel)
	api.pad = filler(cfg.Payload)
	defer api.close()
	var st APIStats
	var delivered, failed, online, empty, offline, unknown atomic.Int64
	var mu sync.Mutex
	fail := func(cause string) {
		failed.Add(1)
		mu.Lock()
		if res.Failures == nil {
			res.Failures = map[string]int64{}
		}
		res.Failures[cause]++
		mu.Unlock()
	}
	seqs := make(chan int64)
	var wg sync.WaitGroup
	for range parallel {
		wg.Go(func() {
			for seq := range seqs {
				var n int64
				var err error
				if cfg.Mode == ModePush {
					var ans pushAnswer
					ans, err = api.push(ctx, pickUsers(cfg.Conns, cfg.Batch), seq)
					n = ans.Delivered
					if err == nil {
						if n == 0 {
							empty.Add(1)
						}
						online.Add(int64(len(ans.Online)))
						offline.Add(int64(len(ans.Offline)))
						unknown.Add(int64(len(ans.Unknown)))
					}
				} else {
					n, err = api.broadcast(ctx, seq)
				}
				if err != nil {
					if ctx.Err() == nil {
						fail(apiCause(err))
					}
					continue
				}
				delivered.Add(n)
			}
		})
	}
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	if cfg.Mode == ModeBroadcast {
		deadline = start.Add(cfg.Timeout)
	}
	p := newPacer(cfg.Rate, start)
	t := time.NewTimer(0)
feed:
	for seq := int64(0); cfg.Count == 0 || seq < int64(cfg.Count); seq++ {
		if w := p.wait(time.Now()); w > 0 {
			t.Reset(w)
			select {
			case <-t.C:
			case <-ctx.Done():
				break feed
			}
		}
		if !time.Now().Before(deadline) {
			break
		}
		select {
		case seqs <- seq:
			st.Calls++
		case <-ctx.Done():
			break feed
		}
	}
	t.Stop()
	close(seqs)
	wg.Wait()
	st.Delivered, st.Failed = delivered.Load(), failed.Load()
	st.Online, st.Empty, st.Offline, st.Unknown = online.Load(), empty.Load(), offline.Load(), unknown.Load()

	grace, cancel := context.WithTimeout(ctx, cfg.Grace)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for fl.progress().Received < st.Expected() {
		select {
		case <-grace.Done():
			return &st
		case <-tick.C:
		}
	}
	// A worker's counters reach the coordinator a little late: one more
	// round lets the last arrivals land in its result too.
	sleep(ctx, progressEvery)
	return &st
}

// checkAPI reports an error if the API at base does not answer at all;
// any HTTP status will do.
func checkAPI(ctx context.Context, base, key string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	api := newAPIClient(base, key, 1)
	defer api.close()
	var ae *apiError
	if err := api.call(ctx, "GET", "/healthz", nil, nil); err != nil && !errors.As(err, &ae) {
		return fmt.Errorf("bench: the API at %s does not answer (--api): %w", base, err)
	}
	return nil
}

// checkFDs refuses a run whose busiest process would need more
// descriptors than its open-files limit: one per connection, one more per
// dial in flight (the descriptor is duplicated into the event loop), and a
// reserve for the loops, pipes and the API client.
func checkFDs(cfg Config) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return nil
	}
	per := (cfg.Conns + cfg.Workers - 1) / cfg.Workers
	if need := per + cfg.Concurrency + 64; need > int(rl.Cur) {
		return fmt.Errorf("bench: %d connections per process need about %d descriptors, over the open-files limit %d: use more --workers", per, need, rl.Cur)
	}
	return nil
}

// watch feeds the fleet's counters to obs until the returned func is
// called.
func watch(fl fleet, obs observer) (stop func()) {
	if obs == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				obs.update(fl.progress())
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

type nopObserver struct{}

func (nopObserver) phase(string, int64) {}
func (nopObserver) update(progress)     {}
func (nopObserver) done()               {}

func orNop(o observer) observer {
	if o == nil {
		return nopObserver{}
	}
	return o
}

// pickUsers names n distinct users of the conns bench connections, at random.
func pickUsers(conns, n int) []string {
	users := make([]string, 0, n)
	if n == 1 {
		return append(users, userName(rand.IntN(conns)))
	}
	for _, i := range rand.Perm(conns)[:n] {
		users = append(users, userName(i))
	}
	return users
}

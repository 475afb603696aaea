package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// fleet is the set of workers a coordinator drives through the phases of
// a run: all of them in this process, or one per child process.
type fleet interface {
	// open dials every worker's connections and returns once all are done.
	open(ctx context.Context) error
	// load starts the load phase.
	load(ctx context.Context) error
	// finish closes the connections and returns every worker's results.
	finish(ctx context.Context) ([]partial, error)
	// progress sums the workers' live counters.
	progress() progress
}

// localFleet is one worker in this process.
type localFleet struct{ w *worker }

func (f localFleet) open(ctx context.Context) error { f.w.open(ctx); return nil }
func (f localFleet) load(ctx context.Context) error { f.w.load(ctx); return nil }
func (f localFleet) progress() progress             { return f.w.progress() }
func (f localFleet) finish(ctx context.Context) ([]partial, error) {
	return []partial{f.w.finish(context.WithoutCancel(ctx))}, nil
}

// The worker protocol. The coordinator starts each worker as
//
//	COMMAND... MODE --worker '{"config":{...},"offset":0,"count":5000}'
//
// and writes commands to its stdin, one per line: "load", then "finish".
// End of input means finish too, so a worker never outlives its parent
// for long. The worker writes JSON lines to its stdout: a progress line
// every progressEvery, {"ready":true} once its connections are open, and
// last {"result":{...}}. Its stderr is the coordinator's.
const progressEvery = 200 * time.Millisecond

// workerSpec is what the --worker flag carries.
type workerSpec struct {
	Config Config `json:"config"`
	Offset int    `json:"offset"`
	Count  int    `json:"count"`
}

// workerLine is one line a worker writes.
type workerLine struct {
	Progress *progress `json:"progress,omitempty"`
	Ready    bool      `json:"ready,omitempty"`
	Result   *partial  `json:"result,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// runWorker is the body of a worker process: it reads commands from in and
// writes its lines to out.
func runWorker(ctx context.Context, spec workerSpec, in io.Reader, out io.Writer) error {
	w, err := newWorker(spec.Config, spec.Offset, spec.Count)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	emit := func(l workerLine) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(l)
	}
	cmds := make(chan string)
	go func() {
		defer close(cmds)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			cmds <- sc.Text()
		}
	}()
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				p := w.progress()
				emit(workerLine{Progress: &p})
			}
		}
	}()
	w.open(ctx)
	emit(workerLine{Ready: true})
wait:
	for {
		select {
		case cmd, ok := <-cmds:
			if !ok || cmd == "finish" {
				break wait
			}
			if cmd == "load" {
				w.load(ctx)
			}
		case <-ctx.Done():
			break wait
		}
	}
	close(stop)
	p := w.finish(context.WithoutCancel(ctx))
	emit(workerLine{Result: &p})
	return nil
}

// procFleet is one worker per child process.
type procFleet struct {
	kids []*kid
}

// kid is one worker process as the coordinator sees it.
type kid struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	last  progress
	ready chan struct{}
	done  chan struct{} // closed when its stdout ends
	res   *partial
	err   error
}

func startProcFleet(cfg Config) (*procFleet, error) {
	command := cfg.Command
	if len(command) == 0 {
		command = []string{os.Args[0], "bench"}
	}
	f := &procFleet{}
	for i := range cfg.Workers {
		count, offset := share(cfg.Conns, cfg.Workers, i)
		spec, err := json.Marshal(workerSpec{Config: cfg, Offset: offset, Count: count})
		if err != nil {
			return nil, err
		}
		args := append(append([]string(nil), command[1:]...), cfg.Mode, "--worker", string(spec))
		k, err := startKid(command[0], args, cfg.APIKey)
		if err != nil {
			f.kill()
			return nil, fmt.Errorf("%w: start worker %d: %v", ErrWorker, i, err)
		}
		f.kids = append(f.kids, k)
	}
	return f, nil
}

func startKid(name string, args []string, apiKey string) (*kid, error) {
	cmd := exec.Command(name, args...)
	cmd.Stderr = os.Stderr
	// The key stays out of the command line, which ps shows.
	cmd.Env = append(os.Environ(), "WSPUSH_API_KEY="+apiKey)
	// A worker dies with the coordinator, whatever kills it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	k := &kid{cmd: cmd, stdin: stdin, ready: make(chan struct{}), done: make(chan struct{})}
	go k.read(stdout)
	return k, nil
}

// read follows a worker's stdout until it ends.
func (k *kid) read(r io.Reader) {
	defer close(k.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	readyClosed := false
	for sc.Scan() {
		var l workerLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			k.err = fmt.Errorf("%w: bad line from worker: %v", ErrWorker, err)
			continue
		}
		switch {
		case l.Progress != nil:
			k.mu.Lock()
			k.last = *l.Progress
			k.mu.Unlock()
		case l.Ready && !readyClosed:
			readyClosed = true
			close(k.ready)
		case l.Result != nil:
			k.res = l.Result
		case l.Error != "":
			k.err = fmt.Errorf("%w: %s", ErrWorker, l.Error)
		}
	}
	if !readyClosed {
		close(k.ready)
	}
}

func (f *procFleet) send(cmd string) {
	for _, k := range f.kids {
		_, _ = io.WriteString(k.stdin, cmd+"\n")
	}
}

func (f *procFleet) open(ctx context.Context) error {
	for _, k := range f.kids {
		select {
		case <-k.ready:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (f *procFleet) load(context.Context) error { f.send("load"); return nil }

func (f *procFleet) progress() progress {
	var p progress
	for _, k := range f.kids {
		k.mu.Lock()
		p = p.add(k.last)
		k.mu.Unlock()
	}
	return p
}

// finish asks every worker to close and waits for their results. Past
// ctx, workers still running are killed.
func (f *procFleet) finish(ctx context.Context) ([]partial, error) {
	for _, k := range f.kids {
		_ = k.stdin.Close()
	}
	var out []partial
	var errs []error
	for i, k := range f.kids {
		select {
		case <-k.done:
		case <-ctx.Done():
			_ = k.cmd.Process.Kill()
			<-k.done
		}
		werr := k.cmd.Wait()
		switch {
		case k.res != nil:
			out = append(out, *k.res)
		case k.err != nil:
			errs = append(errs, fmt.Errorf("worker %d: %w", i, k.err))
		default:
			errs = append(errs, fmt.Errorf("%w: worker %d sent no result: %v", ErrWorker, i, werr))
		}
	}
	return out, errors.Join(errs...)
}

func (f *procFleet) kill() {
	for _, k := range f.kids {
		_ = k.cmd.Process.Kill()
		_ = k.stdin.Close()
		<-k.done
		_ = k.cmd.Wait()
	}
}

package bench

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
)

// worker holds one process's share of the connections: ids offset to
// offset+count-1.
type worker struct {
	h      *handler
	d      *dialer
	offset int
	count  int
	ramp   float64
	openD  time.Duration
	self   procStats // taken at the end of the load phase, before closing
}

// partial is what one worker reports; the coordinator merges them. It
// crosses process boundaries as JSON.
type partial struct {
	Upgraded    int64                  `json:"upgraded"`
	Failed      int64                  `json:"failed"`
	Dropped     int64                  `json:"dropped"`
	Sent        int64                  `json:"sent"`
	Received    int64                  `json:"received"`
	Other       int64                  `json:"other"`
	Deflate     int64                  `json:"deflate,omitempty"`
	Compressed  int64                  `json:"compressed,omitempty"`
	WireBytes   int64                  `json:"wire_bytes,omitempty"`
	Failures    map[string]int64       `json:"failures"`
	OpenSeconds float64                `json:"open_s"`
	Handshake   *hdrhistogram.Snapshot `json:"handshake"`
	Latency     *hdrhistogram.Snapshot `json:"latency"`
	Bcast       []bcastCount           `json:"bcast,omitempty"`
	Self        procStats              `json:"self"`
}

// bcastCount is one broadcast as one worker saw it.
type bcastCount struct {
	N     int64 `json:"n"`
	MaxUS int64 `json:"max_us"`
}

// progress is a live view of the counters, summed over workers.
type progress struct {
	Upgraded int64 `json:"upgraded"`
	Open     int64 `json:"open"`
	Received int64 `json:"received"`
	Errors   int64 `json:"errors"`
}

func (p progress) add(q progress) progress {
	return progress{p.Upgraded + q.Upgraded, p.Open + q.Open, p.Received + q.Received, p.Errors + q.Errors}
}

// newWorker starts the event loops of a worker; open dials.
func newWorker(cfg Config, offset, count int) (*worker, error) {
	h := newHandler(cfg)
	cli, err := gnet.NewClient(h,
		gnet.WithNumEventLoop(cfg.Loops),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(quietLogger{}),
		gnet.WithLogLevel(logging.ErrorLevel),
	)
	if err != nil {
		return nil, fmt.Errorf("bench: gnet client: %w", err)
	}
	if err := cli.Start(); err != nil {
		return nil, fmt.Errorf("bench: gnet client: %w", err)
	}
	h.cli = cli
	d, err := newDialer(h)
	if err != nil {
		_ = cli.Stop()
		return nil, err
	}
	ramp := cfg.Ramp / float64(cfg.Workers)
	return &worker{h: h, d: d, offset: offset, count: count, ramp: ramp}, nil
}

// open dials the worker's connections. Connect mode stops feeding new dials
// after Duration; the other modes only at the run's hard stop.
func (w *worker) open(ctx context.Context) {
	deadline := time.Now().Add(w.h.cfg.Timeout)
	if w.h.cfg.Mode == ModeConnect {
		deadline = time.Now().Add(w.h.cfg.Duration)
	}
	w.openD = w.d.open(ctx, w.offset, w.count, w.ramp, deadline)
}

// load starts the load phase: in echo mode every connection sends its
// first message. The other modes only hold and answer.
func (w *worker) load(ctx context.Context) {
	if w.h.cfg.Mode == ModeEcho {
		w.h.startEcho(ctx)
	}
}

// finish closes every connection politely, stops the event loops and
// returns the worker's results.
func (w *worker) finish(ctx context.Context) partial {
	w.h.echoing.Store(false)
	w.self = readSelf()
	w.h.closeAll(ctx, w.h.cfg.Grace)
	_ = w.h.cli.Stop()
	h := w.h
	p := partial{
		Upgraded:    h.upgraded.Load(),
		Failed:      h.dialFailed.Load(),
		Dropped:     h.dropped.Load(),
		Sent:        h.sent.Load(),
		Received:    h.received.Load(),
		Other:       h.other.Load(),
		Deflate:     h.deflateConns.Load(),
		Compressed:  h.compressedIn.Load(),
		WireBytes:   h.wireIn.Load(),
		OpenSeconds: w.openD.Seconds(),
		Handshake:   h.handshake.snapshot(),
		Latency:     h.latency.snapshot(),
		Self:        w.self,
	}
	h.mu.Lock()
	p.Failures = maps.Clone(h.failures)
	h.mu.Unlock()
	for i := range h.bcast {
		p.Bcast = append(p.Bcast, bcastCount{N: h.bcast[i].n.Load(), MaxUS: h.bcast[i].max.Load()})
	}
	cpu := readSelf() // CPU includes the close phase
	p.Self.CPUUser, p.Self.CPUSys = cpu.CPUUser, cpu.CPUSys
	return p
}

// progress reads the worker's live counters.
func (w *worker) progress() progress {
	return progress{
		Upgraded: w.h.upgraded.Load(),
		Open:     w.h.open.Load(),
		Received: w.h.received.Load(),
		Errors:   w.h.errs.Load(),
	}
}

// quietLogger drops gnet's logs: a worker's stdout carries its results.
type quietLogger struct{}

func (quietLogger) Debugf(string, ...any) {}
func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(string, ...any) {}

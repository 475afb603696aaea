package bench

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/panjf2000/gnet/v2"

	"github.com/wspush/wspush/frame"
)

// handler is the gnet event handler of one bench process: it owns the
// connections, the counters and the histograms. Counters are atomic because
// event loops, dialers and the progress reporter all touch them.
type handler struct {
	gnet.BuiltinEventEngine

	cfg  Config
	base time.Time // start of the monotonic clock for echo timestamps
	cli  *gnet.Client

	upgraded   atomic.Int64 // connections upgraded, ever
	dialFailed atomic.Int64 // dials or upgrades that failed
	open       atomic.Int64 // connections open now
	dropped    atomic.Int64 // connections the server or the network ended before the close phase
	sent       atomic.Int64
	received   atomic.Int64 // echoes, pushes or broadcasts that arrived
	other      atomic.Int64 // other messages: welcome, pong replies
	errs       atomic.Int64
	echoing    atomic.Bool
	stopping   atomic.Bool

	mu       sync.Mutex
	conns    []*conn
	failures map[string]int64

	handshake *hist
	latency   *hist
	bcast     []bcastSlot // one per broadcast sequence number

	echoOp   ws.OpCode
	echoBody []byte
	scratch  sync.Pool

	deflateConns atomic.Int64 // connections that negotiated permessage-deflate
	compressedIn atomic.Int64 // messages that arrived compressed
	wireIn       atomic.Int64 // frame bytes of the messages that arrived (Received), as on the wire
	inflaters    sync.Pool    // *frame.Inflater
}

// bcastSlot records one broadcast's receivers.
type bcastSlot struct {
	n   atomic.Int64 // receivers
	max atomic.Int64 // slowest receiver, microseconds
}

func newHandler(cfg Config) *handler {
	h := &handler{
		cfg:       cfg,
		base:      time.Now(),
		failures:  make(map[string]int64),
		handshake: newHist(),
		latency:   newHist(),
		echoOp:    ws.OpText,
		echoBody:  make([]byte, cfg.Size),
	}
	for i := range h.echoBody {
		h.echoBody[i] = 'a' + byte(i%26)
	}
	if cfg.Mode == ModeBroadcast {
		h.bcast = make([]bcastSlot, cfg.Count)
	}
	h.scratch.New = func() any { b := make([]byte, 0, 256); return &b }
	h.inflaters.New = func() any { return frame.NewInflater() }
	return h
}

// fail counts one error by cause.
func (h *handler) fail(cause string) {
	h.errs.Add(1)
	h.mu.Lock()
	h.failures[cause]++
	h.mu.Unlock()
}

// OnOpen parses whatever the server sent right behind its upgrade response.
// It implements gnet.EventHandler.
func (h *handler) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	c, ok := gc.Context().(*conn)
	if !ok {
		return nil, gnet.Close
	}
	c.gc = gc
	h.open.Add(1)
	if len(c.pending) == 0 {
		c.pending = nil
		return nil, gnet.None
	}
	n, act := c.consume(c.pending)
	c.pending = c.pending[n:]
	if len(c.pending) == 0 {
		c.pending = nil
	}
	return nil, act
}

// OnTraffic parses the frames that arrived. It implements gnet.EventHandler.
func (h *handler) OnTraffic(gc gnet.Conn) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		return gnet.Close
	}
	buf, _ := gc.Peek(-1)
	if c.pending != nil {
		// Rare: the first frame straddled the upgrade response's read.
		c.pending = append(c.pending, buf...)
		discard(gc, len(buf))
		n, act := c.consume(c.pending)
		c.pending = c.pending[n:]
		if len(c.pending) == 0 {
			c.pending = nil
		}
		return act
	}
	n, act := c.consume(buf)
	discard(gc, n)
	return act
}

// discard drops the n bytes consumed. gnet's Discard(0) drops everything
// buffered, a partial frame included, so zero must not reach it.
func discard(gc gnet.Conn, n int) {
	if n > 0 {
		_, _ = gc.Discard(n)
	}
}

// OnClose counts a connection gone. It implements gnet.EventHandler.
func (h *handler) OnClose(gc gnet.Conn, _ error) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		return gnet.None
	}
	if c.state == stateOpen && !h.stopping.Load() {
		h.fail("dropped")
		h.dropped.Add(1)
	}
	c.state = stateClosed
	c.frag, c.pending = nil, nil
	h.open.Add(-1)
	return gnet.None
}

// message handles one complete data message on c's event loop.
// wire is the message's size on the wire, frame headers included.
func (h *handler) message(c *conn, p []byte, wire int) {
	switch h.cfg.Mode {
	case ModeEcho:
		if c.sentAt == 0 {
			h.other.Add(1) // not ours: a welcome or a server's own message
			return
		}
		h.latency.record(time.Since(h.base) - time.Duration(c.sentAt))
		h.received.Add(1)
		h.wireIn.Add(int64(wire))
		c.sentAt = 0
		if h.echoing.Load() {
			c.sendEcho()
		}
	case ModePush, ModeBroadcast:
		seq, tus, ok := parseStamp(p)
		if !ok {
			h.other.Add(1)
			return
		}
		if h.cfg.Mode == ModePush {
			// Each push goes to one connection once: a second copy is a
			// failure, not an arrival, or it would hide a lost one.
			if slices.Contains(c.seen, seq) {
				h.fail("duplicate")
				return
			}
			c.seen = append(c.seen, seq)
		}
		lat := time.Since(time.UnixMicro(tus))
		h.latency.record(lat)
		h.received.Add(1)
		h.wireIn.Add(int64(wire))
		if seq >= 0 && seq < int64(len(h.bcast)) {
			s := &h.bcast[seq]
			s.n.Add(1)
			us := lat.Microseconds()
			for old := s.max.Load(); us > old && !s.max.CompareAndSwap(old, us); old = s.max.Load() {
			}
		}
	default:
		h.other.Add(1)
	}
}

// eachLoop runs f on every open connection, on that connection's event
// loop, and waits until every loop has run it or ctx ends.
func (h *handler) eachLoop(ctx context.Context, f func(c *conn)) {
	h.mu.Lock()
	byLoop := make(map[gnet.EventLoop][]*conn)
	for _, c := range h.conns {
		el := c.gc.EventLoop()
		byLoop[el] = append(byLoop[el], c)
	}
	h.mu.Unlock()
	done := make(chan struct{}, len(byLoop))
	queued := 0
	for el, cs := range byLoop {
		err := el.Execute(ctx, gnet.RunnableFunc(func(context.Context) error {
			for _, c := range cs {
				if c.state == stateOpen {
					f(c)
				}
			}
			done <- struct{}{}
			return nil
		}))
		if err == nil {
			queued++ // else the loop is gone and will never run the task
		}
	}
	for range queued {
		select {
		case <-done:
		case <-ctx.Done():
			return
		}
	}
}

// startEcho has every open connection send its first echo message.
func (h *handler) startEcho(ctx context.Context) {
	h.echoing.Store(true)
	h.eachLoop(ctx, (*conn).sendEcho)
}

// closeAll sends a close frame on every open connection and waits for the
// server to answer them all, or for grace to pass.
func (h *handler) closeAll(ctx context.Context, grace time.Duration) {
	h.stopping.Store(true)
	h.echoing.Store(false)
	ctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	h.eachLoop(ctx, func(c *conn) {
		c.state = stateClosing
		var b [2]byte
		b[0], b[1] = byte(ws.StatusNormalClosure>>8), byte(ws.StatusNormalClosure&0xff)
		c.write(ws.OpClose, b[:])
	})
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for h.open.Load() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

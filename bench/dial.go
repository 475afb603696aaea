package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"golang.org/x/sys/unix"
)

// dialer opens connections for one process: a bounded pool of goroutines
// dials and upgrades, each upgraded connection is handed to an event loop
// and no goroutine stays behind for it.
type dialer struct {
	h     *handler
	ws    ws.Dialer
	nets  []*net.Dialer // one per source address, used in turn
	urls  []*url.URL    // the endpoints, dialed in turn: connection id goes to urls[id%len]
	users bool          // add user=bench-N to the query
}

func newDialer(h *handler) (*dialer, error) {
	d := &dialer{h: h, users: h.cfg.Mode == ModePush || h.cfg.Mode == ModeBroadcast}
	for _, s := range splitURLs(h.cfg.URL) {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("bench: --url: %w", err)
		}
		d.urls = append(d.urls, u)
	}
	for _, ip := range h.cfg.SourceIPs {
		d.nets = append(d.nets, sourceDialer(ip))
	}
	if len(d.nets) == 0 {
		d.nets = []*net.Dialer{{}}
	}
	d.ws = ws.Dialer{Timeout: h.cfg.DialTimeout}
	if h.cfg.Compression {
		// What browsers offer: permessage-deflate; client_max_window_bits.
		d.ws.Extensions = []httphead.Option{wsflate.Parameters{ClientMaxWindowBits: 1}.Option()}
	}
	return d, nil
}

// sourceDialer dials from ip. IP_BIND_ADDRESS_NO_PORT defers the choice of
// the local port to connect(2), so that the port range is shared per
// destination rather than used up by bind(2) alone.
func sourceDialer(ip netip.Addr) *net.Dialer {
	return &net.Dialer{
		LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)),
		Control: func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) {
				_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
			})
		},
	}
}

// urlFor is the URL connection id dials: the endpoints in turn, so that
// the connections spread evenly over several nodes.
func (d *dialer) urlFor(id int) string {
	base := d.urls[id%len(d.urls)]
	if !d.users {
		return base.String()
	}
	u := *base
	q := u.Query()
	q.Set("user", userName(id))
	u.RawQuery = q.Encode()
	return u.String()
}

// splitURLs splits a --url or --api that names several endpoints,
// comma-separated.
func splitURLs(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// userName is the user that connection id claims in push and broadcast.
func userName(id int) string { return "bench-" + strconv.Itoa(id) }

// open dials count connections with ids from offset, at most rate per
// second (zero: as fast as the pool goes), until they are all tried,
// until the deadline, or until ctx ends. It returns the time from the first
// dial to the last upgrade.
func (d *dialer) open(ctx context.Context, offset, count int, rate float64, deadline time.Time) time.Duration {
	// Dials in flight at the deadline finish within DialTimeout; only ctx
	// (the run's hard stop) cuts them short.
	feed, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	ids := make(chan int)
	start := time.Now()
	var last syncTime
	var wg sync.WaitGroup
	for range min(d.h.cfg.Concurrency, count) {
		wg.Go(func() {
			for id := range ids {
				if d.dialOne(ctx, id) {
					last.set(time.Now())
				}
			}
		})
	}
	p := newPacer(rate, start)
	t := time.NewTimer(0)
	defer t.Stop()
feed:
	for i := range count {
		if w := p.wait(time.Now()); w > 0 {
			t.Reset(w)
			select {
			case <-t.C:
			case <-feed.Done():
				break feed
			}
		}
		select {
		case ids <- offset + i:
		case <-feed.Done():
			break feed
		}
	}
	close(ids)
	wg.Wait()
	if l := last.get(); !l.IsZero() {
		return l.Sub(start)
	}
	return 0
}

// dialOne dials and upgrades one connection and hands it to an event loop.
// It reports whether the connection is up.
func (d *dialer) dialOne(ctx context.Context, id int) bool {
	nd := d.nets[id%len(d.nets)]
	wsd := d.ws
	wsd.NetDial = nd.DialContext
	start := time.Now()
	nc, br, hs, err := wsd.Dial(ctx, d.urlFor(id))
	if err != nil {
		if ctx.Err() == nil {
			d.h.dialFailed.Add(1)
			d.h.fail(failureCause(err))
		}
		return false
	}
	d.h.handshake.record(time.Since(start))
	c := &conn{h: d.h, id: id}
	for _, x := range hs.Extensions {
		if bytes.Equal(x.Name, wsflate.ExtensionNameBytes) {
			c.deflate = true
			d.h.deflateConns.Add(1)
		}
	}
	if br != nil {
		// Frames the server sent right behind its 101 are already read.
		if n := br.Buffered(); n > 0 {
			p, _ := br.Peek(n)
			c.pending = append([]byte(nil), p...)
		}
		ws.PutReader(br)
	}
	// EnrollContext duplicates the descriptor for the loop and closes nc.
	if _, err := d.h.cli.EnrollContext(nc, c); err != nil {
		_ = nc.Close()
		d.h.dialFailed.Add(1)
		d.h.fail(failureCause(err))
		return false
	}
	d.h.upgraded.Add(1)
	d.h.mu.Lock()
	d.h.conns = append(d.h.conns, c)
	d.h.mu.Unlock()
	return true
}

// failureCause names why a dial or upgrade failed: refused, timeout,
// http_NNN for an HTTP answer other than 101, reset, fd_limit, no_ports,
// bad_handshake or other.
func failureCause(err error) string {
	var se ws.StatusError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		return "http_" + strconv.Itoa(int(se))
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "fd_limit"
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		return "no_ports"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "reset"
	case errors.Is(err, ws.ErrHandshakeBadProtocol), errors.Is(err, ws.ErrHandshakeBadUpgrade),
		errors.Is(err, ws.ErrHandshakeBadConnection), errors.Is(err, ws.ErrHandshakeBadSecAccept),
		errors.Is(err, ws.ErrHandshakeBadExtensions), errors.Is(err, ws.ErrHandshakeBadSubProtocol):
		return "bad_handshake"
	}
	return "other"
}

// syncTime is a time that several goroutines move forward.
type syncTime struct {
	mu sync.Mutex
	t  time.Time
}

func (s *syncTime) set(t time.Time) {
	s.mu.Lock()
	if t.After(s.t) {
		s.t = t
	}
	s.mu.Unlock()
}

func (s *syncTime) get() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t
}

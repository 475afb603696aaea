package redistest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy relays TCP to a Redis for one node, and can cut the node off from
// it, as a network fault between the two would, while the other nodes keep
// their own connections: Cut closes every relayed connection and turns new
// ones away until Mend. The node reaches the proxy over TCP; the proxy
// reaches Redis on its unix socket.
type Proxy struct {
	ln net.Listener
	to string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// NewProxy relays to r until the test ends.
func NewProxy(t testing.TB, r *Server) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, to: r.Socket(), conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

// URL is the redis:// URL of database 0 through the proxy.
func (p *Proxy) URL() string { return "redis://" + p.ln.Addr().String() + "/0" }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			in.Close()
			continue
		}
		out, err := net.Dial("unix", p.to)
		if err != nil {
			p.mu.Unlock()
			in.Close()
			continue
		}
		p.conns[in], p.conns[out] = struct{}{}, struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		relay := func(dst, src net.Conn) {
			defer p.wg.Done()
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		go relay(out, in)
		go relay(in, out)
	}
}

// Cut closes the node's connections to Redis and refuses new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Mend lets the node reach Redis again.
func (p *Proxy) Mend() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

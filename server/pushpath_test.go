package server

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// The cost of one API push to one connected user on one node (issue 20,
// docs/benchmarks.md "API push CPU on one node"): the handler, the JSON,
// the broker, the engine's look-up and job, the loop's write. The call
// goes to the handler without a socket, so that what is measured is ours,
// not net/http's; BenchmarkAPIPushHTTP adds a real keep-alive connection.

// pushPath is a server with one user, "u1", connected and read by a
// goroutine that throws the pushes away, and the API's handler.
type pushPath struct {
	s    *Server
	h    http.Handler
	body []byte
}

func newPushPath(t testing.TB) *pushPath {
	t.Helper()
	s := startServer(t, Config{APIAddr: "127.0.0.1:0"})
	c := apiDialUser(t, s, "u1")
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.Discard, c.BR)
	}()
	t.Cleanup(func() {
		_ = c.NC.Close()
		<-done
	})
	return &pushPath{s: s, h: s.APIHandler(),
		body: []byte(`{"users":["u1"],"data":"T=1765151234567890123;P=12345;xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)}
}

// recorder is a ResponseWriter that keeps the status and the body of the
// last answer in buffers it reuses.
type recorder struct {
	hdr    http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.hdr }
func (r *recorder) WriteHeader(s int)   { r.status = s }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// caller makes the same POST /v1/push again and again, reusing the request.
type caller struct {
	p   *pushPath
	req *http.Request
	rd  bytes.Reader
	w   recorder
}

func (p *pushPath) caller() *caller {
	c := &caller{p: p, w: recorder{hdr: http.Header{}}}
	c.req, _ = http.NewRequestWithContext(context.Background(), "POST", "http://127.0.0.1:8081/v1/push", nil)
	c.req.Header.Set("Content-Type", "application/json")
	c.req.Body = io.NopCloser(&c.rd)
	c.req.ContentLength = int64(len(p.body))
	return c
}

// call pushes once and returns the status and the answer.
func (c *caller) call() (int, string) {
	c.rd.Reset(c.p.body)
	c.w.status = 0
	c.w.body.Reset()
	clear(c.w.hdr)
	c.p.h.ServeHTTP(&c.w, c.req)
	return c.w.status, c.w.body.String()
}

func TestAPIPushPathAnswers(t *testing.T) {
	p := newPushPath(t)
	c := p.caller()
	status, body := c.call()
	if status != http.StatusOK || !strings.Contains(body, `"delivered":1`) || !strings.Contains(body, `"online":["u1"]`) {
		t.Fatalf("push answered %d %s, want 200 delivered 1 to u1", status, body)
	}
}

func BenchmarkAPIPush(b *testing.B) {
	p := newPushPath(b)
	c := p.caller()
	b.ReportAllocs()
	for b.Loop() {
		if status, body := c.call(); status != http.StatusOK {
			b.Fatalf("push answered %d %s", status, body)
		}
	}
}

// BenchmarkAPIPushHTTP is BenchmarkAPIPush through the API's listener, on
// one keep-alive connection: it counts net/http's share, both ends of it.
func BenchmarkAPIPushHTTP(b *testing.B) {
	p := newPushPath(b)
	tr := &http.Transport{}
	b.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	url := "http://" + p.s.APIAddr().String() + "/v1/push"
	b.ReportAllocs()
	for b.Loop() {
		resp, err := hc.Post(url, "application/json", bytes.NewReader(p.body))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("push answered %d", resp.StatusCode)
		}
	}
}

// A push to one user through the API's handler allocates a fixed, small
// number of objects, counted in every goroutine (the loop's too): the
// body struct, its users slice, each user id and the data's copy (api's
// decodeFast), the call's deadline (context.WithTimeout: 4), the frame,
// the engine's look-up, shard table and gnet task (4), the answer
// (json.Marshal, Content-Length, the result) and this test's copy of it.
// It was 32 before issue 20's work (docs/benchmarks.md, "API push CPU on
// one node").
func TestAPIPushAllocations(t *testing.T) {
	if raceOn {
		t.Skip("allocation counts are checked without the race detector (make race's second pass)")
	}
	p := newPushPath(t)
	c := p.caller()
	n := testing.AllocsPerRun(500, func() {
		if status, body := c.call(); status != http.StatusOK {
			t.Fatalf("push answered %d %s", status, body)
		}
	})
	t.Logf("%.1f allocations per push", n)
	if n > maxPushAllocs {
		t.Fatalf("a push to one user allocates %.1f objects, want at most %d", n, maxPushAllocs)
	}
}

// maxPushAllocs is what TestAPIPushAllocations allows, the caller's own
// answer string included.
const maxPushAllocs = 18

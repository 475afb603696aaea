package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"go.uber.org/goleak"

	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/wire"
	"github.com/wspush/wspush/server/internal/wstest"
)

// The engine's tests drive it two ways: with raw sockets that read like a
// transcript (wstest.Client: dial, dialWS, dialAs), and with gobwas/ws's
// own client (wsDial, readText), a different peer from those transcripts.

// startEngine runs an engine with no hooks on a free loopback port for the
// length of the test, with store as its history (nil: none), and checks
// on cleanup that it stopped and left no goroutine behind.
func startEngine(t *testing.T, cfg Config, store history.Store) *Engine {
	t.Helper()
	return startEngineHooks(t, cfg, nil, store)
}

// startEngineHooks is startEngine with hooks.
func startEngineHooks(t *testing.T, cfg Config, hooks Hooks, store history.Store) *Engine {
	t.Helper()
	s, _ := runEngine(t, cfg, hooks, store)
	return s
}

// runEngine is startEngineHooks for a test that shuts the engine down
// itself: shutdown starts what a server's shutdown does to its engine
// (Drain, then Stop, within 10 s) on a goroutine of its own and returns
// a channel that receives its result, the first error of Stop and Run.
// It runs once, whoever calls it first; the cleanup calls it too and
// waits.
func runEngine(t *testing.T, cfg Config, hooks Hooks, store history.Store) (s *Engine, shutdown func() <-chan error) {
	t.Helper()
	return runEnginePrep(t, cfg, hooks, store, nil)
}

// startEngineBefore is startEngine with prep run on the engine before it
// starts.
func startEngineBefore(t *testing.T, cfg Config, prep func(*Engine)) *Engine {
	t.Helper()
	s, _ := runEnginePrep(t, cfg, nil, nil, prep)
	return s
}

// runEnginePrep is runEngine with prep, when not nil, run on the engine
// before it starts.
func runEnginePrep(t *testing.T, cfg Config, hooks Hooks, store history.Store, prep func(*Engine)) (s *Engine, shutdown func() <-chan error) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { wstest.NoLeaks(t, ignore) })
	cfg.Addr = "127.0.0.1:0"
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	s = New(cfg, hooks, store)
	if prep != nil {
		prep(s)
	}
	done := wstest.Serve(t, s.Run, s.Ready())
	var once sync.Once
	var err error
	stopped := make(chan struct{})
	shutdown = func() <-chan error {
		once.Do(func() {
			go func() {
				err = stop(s, done)
				close(stopped)
			}()
		})
		result := make(chan error, 1)
		go func() {
			<-stopped
			result <- err
		}()
		return result
	}
	t.Cleanup(func() {
		if err := <-shutdown(); err != nil {
			t.Error(err)
		}
	})
	return s, shutdown
}

// stop drains s and stops it within 10 s, and returns the first error of
// Stop and of Run (whose result done delivers).
func stop(s *Engine, done <-chan error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.Drain(ctx)
	if err := s.Stop(ctx); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	if err := <-done; err != nil {
		return fmt.Errorf("run returned %w", err)
	}
	return nil
}

// relayHooks hand a client's publish and send back to the engine they
// came from, as a single node's broker does (server/internal/local):
// encoded once, from the client's user, with no history. A send meant
// for the webhook alone (ClientSends SendsWebhook) is only noted.
type relayHooks struct {
	nopHooks
	s  atomic.Pointer[Engine]
	mu sync.Mutex
	// webhookSends are the sends for the webhook alone: "from>to data".
	webhookSends []string
}

func (h *relayHooks) Publish(c Conn, room string, data []byte) error {
	s := h.s.Load()
	return s.PostRoom(room, wire.PushFrame(s.NextID(), "", data, room, c.User, 0, time.Now().UnixMilli()), 0)
}

func (h *relayHooks) Send(c Conn, to string, data []byte, webhookOnly bool) error {
	if webhookOnly {
		h.mu.Lock()
		h.webhookSends = append(h.webhookSends, c.User+">"+to+" "+string(data))
		h.mu.Unlock()
		return nil
	}
	s := h.s.Load()
	return s.PostUsers([]string{to}, wire.PushFrame(s.NextID(), "", data, "", c.User, 0, time.Now().UnixMilli()), 0)
}

// sentToWebhook returns the sends noted for the webhook so far.
func (h *relayHooks) sentToWebhook() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.webhookSends...)
}

// startRelay is startEngine with relayHooks: clients' publishes and sends
// reach their receivers.
func startRelay(t *testing.T, cfg Config) (*Engine, *relayHooks) {
	t.Helper()
	h := &relayHooks{}
	s := startEngineHooks(t, cfg, h, nil)
	h.s.Store(s)
	return s, h
}

// push, publish and broadcast are the backend's verbs as a single node
// without history sends them (server/internal/local): one frame, handed
// to the loops and waited for.
func push(s *Engine, users []string, data json.RawMessage) (wire.Delivery, error) {
	f := wire.PushFrame(s.NextID(), "", data, "", "", 0, time.Now().UnixMilli())
	return s.DeliverUsers(context.Background(), users, f, 0, nil)
}

func publish(s *Engine, room string, data json.RawMessage) (int, error) {
	f := wire.PushFrame(s.NextID(), "", data, room, "", 0, time.Now().UnixMilli())
	return s.DeliverRoom(context.Background(), room, f, 0)
}

func broadcast(s *Engine, data json.RawMessage) (int, error) {
	return s.DeliverAll(context.Background(), wire.PushFrame(s.NextID(), "", data, "", "", 0, time.Now().UnixMilli()))
}

// client is a test peer on a raw TCP connection.
type client = wstest.Client

func dial(t testing.TB, s *Engine) *client { return wstest.Dial(t, s.Addr().String()) }

// dialWS dials and completes the upgrade on /ws.
func dialWS(t testing.TB, s *Engine) *client { return wstest.DialWS(t, s.Addr().String(), "/ws") }

// dialAs upgrades with extra query and header lines and reads the welcome.
func dialAs(t testing.TB, s *Engine, query, header string) (*client, map[string]any) {
	t.Helper()
	return wstest.DialAs(t, s.Addr().String(), query, header)
}

// The shared test kit under the names the transcripts use.
var (
	waitFor        = wstest.WaitFor
	maskedFrame    = wstest.MaskedFrame
	upgradeRequest = wstest.UpgradeRequest
	token          = wstest.Token
)

var errorf = fmt.Errorf

// closeCount is a waitFor condition: a connection of s closed for r.
func closeCount(s *Engine, r wire.CloseReason) func() error {
	return func() error {
		if n := s.Counters().Closes[r]; n == 0 {
			return fmt.Errorf("no close with reason %s yet", r)
		}
		return nil
	}
}

// wsDial opens a WebSocket to s at path (with its query) with gobwas/ws's
// client.
func wsDial(t *testing.T, s *Engine, path string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nc, br, _, err := ws.Dial(ctx, "ws://"+s.Addr().String()+path)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	t.Cleanup(func() { nc.Close() })
	if br != nil {
		// Frames that came with the 101 (the welcome) wait in br.
		return bufConn{nc, br}
	}
	return nc
}

// bufConn reads what a handshake left buffered before the socket.
type bufConn struct {
	net.Conn
	r io.Reader
}

func (c bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// onLoops runs f on every loop of s and sums what it returns.
func onLoops(s *Engine, f func(l *loop) int) int {
	n, _ := s.fan(context.Background(), true, nil, func(*loop) job { return job{fn: f} })
	return n
}

// readText reads the next text message from nc, skipping control frames.
func readText(nc net.Conn, d time.Duration) ([]byte, error) {
	_ = nc.SetReadDeadline(time.Now().Add(d))
	for {
		p, op, err := wsutil.ReadServerData(nc)
		if err != nil {
			return nil, err
		}
		if op == ws.OpText {
			return p, nil
		}
	}
}

package local

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wspush/wspush/server/internal/engine"
	"github.com/wspush/wspush/server/internal/presence"
	"github.com/wspush/wspush/server/internal/wstest"
)

// testHooks tells the broker what the engine sees, as the server's hooks
// do (server/hooks.go), without a webhook.
type testHooks struct {
	b     *Broker
	grace *presence.Grace
}

func (h testHooks) Connected(c engine.Conn, _ net.Addr, _ string) {
	h.grace.Back(c.User)
	h.b.Arrived(c.User)
}
func (h testHooks) Joined(room string)                     { h.b.Joined(room) }
func (h testHooks) Member(room, user string)               { h.b.Member(room, user) }
func (h testHooks) Leaving(user string)                    { h.b.Leaving(user) }
func (h testHooks) Disconnected(engine.Conn, string, bool) {}
func (h testHooks) Binary(engine.Conn, []byte)             {}
func (h testHooks) Received(engine.Conn, []string)         {}
func (h testHooks) Left(user string, last bool) {
	if last {
		h.grace.Left(user)
	}
	h.b.Left(user)
}
func (h testHooks) Publish(c engine.Conn, room string, data []byte) error {
	return h.b.QueuePublish(room, data, c.User)
}
func (h testHooks) Send(c engine.Conn, to string, data []byte, webhookOnly bool) error {
	if webhookOnly {
		return nil
	}
	return h.b.QueuePush(to, data, c.User)
}

// node is a single node: an engine on a free loopback port and its broker.
type node struct {
	b   *Broker
	eng *engine.Engine
}

// startNode runs a broker for cfg with an engine for ecfg for the length of
// the test, with an offline grace of grace, and checks on cleanup that it
// stopped and left no goroutine behind.
func startNode(t *testing.T, cfg Config, ecfg engine.Config, grace time.Duration) *node {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { wstest.NoLeaks(t, ignore) })
	if cfg.HistorySize > 0 && cfg.HistoryMaxBytes == 0 {
		cfg.HistoryMaxBytes = 256 << 20 // the server's DefaultHistoryMaxBytes
	}
	cfg.Grace = presence.NewGrace(presence.Config{Grace: grace})
	b := New(cfg)
	ecfg.Addr = "127.0.0.1:0"
	if ecfg.Loops == 0 {
		ecfg.Loops = 2
	}
	eng := engine.New(ecfg, testHooks{b: b, grace: cfg.Grace}, b.Store())
	b.Bind(eng)
	wstest.ServeAndStop(t, eng.Run, eng.Ready(), func(ctx context.Context) error {
		eng.Drain(ctx)
		return eng.Stop(ctx)
	})
	return &node{b: b, eng: eng}
}

// dial connects as user (development mode) with the extra query and reads
// the welcome.
func (n *node) dial(t *testing.T, user, query string) *wstest.Client {
	t.Helper()
	c := wstest.Dial(t, n.eng.Addr().String())
	c.Write([]byte(wstest.UpgradeRequest("/ws?user=" + url.QueryEscape(user) + query)))
	c.ExpectStatus(http.StatusSwitchingProtocols)
	c.ExpectJSON("welcome")
	return c
}

package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"

	"github.com/wspush/wspush/server/internal/auth"
	"github.com/wspush/wspush/server/internal/wire"
)

// admitFunc is an Admitter made of a function, the connect hook's stand-in.
type admitFunc func(ctx context.Context, f wire.ConnectFacts) (wire.Admission, error)

func (a admitFunc) Admit(ctx context.Context, f wire.ConnectFacts) (wire.Admission, error) {
	return a(ctx, f)
}

// welcomeAfterHook upgrades with query and reads the 101, then the
// welcome the verdict brought.
func welcomeAfterHook(t *testing.T, s *Engine, query, header string) (*client, map[string]any) {
	t.Helper()
	return dialAs(t, s, query, header)
}

// expectDisconnect reads the disconnect message and the close frame of
// code after a 101.
func expectDisconnect(t *testing.T, c *client, code int, reason string) {
	t.Helper()
	m := c.ExpectJSON("disconnect")
	if m["code"] != float64(code) {
		t.Fatalf("disconnect %v, want code %d", m, code)
	}
	if reason != "" && m["reason"] != reason {
		t.Fatalf("disconnect reason %q, want %q", m["reason"], reason)
	}
	c.ExpectClose(ws.StatusCode(code))
	c.Send(ws.OpClose, []byte{byte(code >> 8), byte(code)})
	c.ExpectEOF()
}

func TestConnectHookNamesTheUserItsRoomsAndItsMeta(t *testing.T) {
	const secret = "s3cret-s3cret-s3cret-s3cret-0123"
	facts := make(chan wire.ConnectFacts, 2)
	s := startEngine(t, Config{
		Auth:         &auth.Authenticator{Secret: secret},
		AdmitHeaders: []string{"user-agent", "X-App-Version"},
		Admit: admitFunc(func(_ context.Context, f wire.ConnectFacts) (wire.Admission, error) {
			facts <- f
			return wire.Admission{User: "openid-" + f.Query.Get("code"), Rooms: []string{"city:sz", "news"},
				Meta: json.RawMessage(`{"nick":"小明"}`)}, nil
		}),
	}, nil)

	// Without a token: the hook decides who it is (a wx.login code).
	c, welcome := welcomeAfterHook(t, s, "?code=071abc", "User-Agent: MiniProgram\r\nX-App-Version: 3.2\r\nX-Other: no")
	if welcome["user"] != "openid-071abc" || fmt.Sprint(welcome["meta"]) != "map[nick:小明]" {
		t.Fatalf("welcome %v: want the hook's user and meta", welcome)
	}
	f := <-facts
	if f.Type != "connect.request" || f.User != "" || f.Claims != nil || f.Query.Get("code") != "071abc" || f.Remote == "" {
		t.Fatalf("facts %+v", f)
	}
	if len(f.Headers) != 2 || f.Headers["User-Agent"] != "MiniProgram" || f.Headers["X-App-Version"] != "3.2" {
		t.Fatalf("headers %v: want exactly the two listed", f.Headers)
	}
	if n, err := publish(s, "city:sz", json.RawMessage(`"rain"`)); err != nil || n != 1 {
		t.Fatalf("publish to the hook's room: %d, %v", n, err)
	}
	c.ExpectPushData(`"rain"`, "city:sz")
	if d, err := push(s, []string{"openid-071abc"}, json.RawMessage(`"hi"`)); err != nil || d.Delivered != 1 {
		t.Fatalf("push to the hook's user: %+v, %v", d, err)
	}
	c.ExpectPush(`"hi"`)
	// A connection the hook admitted without a token only receives: it
	// may not publish where no token allowed it.
	c.SendJSON(`{"type":"publish","room":"news","data":1,"ref":1}`)
	if m := c.ExpectJSON("error"); m["code"] != "forbidden" {
		t.Fatalf("publish without a token: %v, want forbidden", m)
	}

	// With a token: the hook is told its claims, never the token itself.
	tok := token(t, secret, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice"}, Rooms: []string{"chat:*"}})
	_, welcome = welcomeAfterHook(t, s, "?token="+tok+"&code=9", "")
	f = <-facts
	var claims map[string]any
	if err := json.Unmarshal(f.Claims, &claims); err != nil || claims["sub"] != "alice" || f.User != "alice" {
		t.Fatalf("claims %s (%v), user %q", f.Claims, err, f.User)
	}
	if _, ok := f.Query["token"]; ok {
		t.Fatalf("the hook was told the token: %v", f.Query)
	}
	if welcome["user"] != "openid-9" {
		t.Fatalf("welcome %v: the hook's user overrides the token's", welcome)
	}
}

func TestConnectHookRefusesInBandWithItsReason(t *testing.T) {
	s := startEngine(t, Config{Admit: admitFunc(func(context.Context, wire.ConnectFacts) (wire.Admission, error) {
		return wire.Admission{Refused: true, Reason: "this code was used already"}, nil
	})}, nil)
	c := dial(t, s)
	c.Write([]byte(upgradeRequest("/ws?code=1")))
	c.ExpectStatus(http.StatusSwitchingProtocols)
	expectDisconnect(t, c, 4505, "this code was used already")
	waitFor(t, time.Second, closeCount(s, wire.ReasonRefused))
	if n := s.admit.verdicts[admitRefused].Load(); n != 1 {
		t.Fatalf("refused verdicts %d, want 1", n)
	}
}

func TestConnectHookDownFailsClosedUnlessToldOtherwise(t *testing.T) {
	const secret = "s3cret-s3cret-s3cret-s3cret-0123"
	down := admitFunc(func(context.Context, wire.ConnectFacts) (wire.Admission, error) {
		return wire.Admission{}, errors.New("connection refused")
	})
	tok := token(t, secret, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "bob"}})

	closed := startEngine(t, Config{Auth: &auth.Authenticator{Secret: secret}, Admit: down}, nil)
	c := dial(t, closed)
	c.Write([]byte(upgradeRequest("/ws?token=" + tok)))
	c.ExpectStatus(http.StatusSwitchingProtocols)
	expectUnavailable(t, closed, c)

	open := startEngine(t, Config{Auth: &auth.Authenticator{Secret: secret}, Admit: down, AdmitFailOpen: true}, nil)
	if _, welcome := welcomeAfterHook(t, open, "?token="+tok, ""); welcome["user"] != "bob" {
		t.Fatalf("fail open: welcome %v, want the token's user", welcome)
	}
	// Fail open still needs someone to be: no token, no user.
	c = dial(t, open)
	c.Write([]byte(upgradeRequest("/ws")))
	c.ExpectStatus(http.StatusSwitchingProtocols)
	expectUnavailable(t, open, c)
}

// expectUnavailable reads the retryable 4006 connect_unavailable and
// waits for its close to be counted.
func expectUnavailable(t *testing.T, s *Engine, c *client) {
	t.Helper()
	expectDisconnect(t, c, 4006, "")
	waitFor(t, time.Second, closeCount(s, wire.ReasonUnadmitted))
}

// TestConnectHookNeverHoldsTheLoop: with one event loop, a connection
// whose hook hangs does not stop that loop from serving another: its
// upgrade, its welcome, a ping and a push, all while the first waits.
func TestConnectHookNeverHoldsTheLoop(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	s := startEngine(t, Config{Loops: 1, AdmitTimeout: time.Minute, Admit: admitFunc(func(ctx context.Context, f wire.ConnectFacts) (wire.Admission, error) {
		if f.User == "slow" {
			select {
			case <-release:
			case <-ctx.Done():
				return wire.Admission{}, ctx.Err()
			}
		}
		return wire.Admission{}, nil
	})}, nil)
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	slow := dial(t, s)
	slow.Write([]byte(upgradeRequest("/ws?user=slow")))
	slow.ExpectStatus(http.StatusSwitchingProtocols)
	waitFor(t, time.Second, func() error {
		if n := s.admit.pending.Load(); n != 1 {
			return fmt.Errorf("%d waiting, want the slow one", n)
		}
		return nil
	})
	// The client sends a request before its welcome: it waits with it.
	slow.SendJSON(`{"type":"join","room":"early","ref":7}`)

	fast, welcome := welcomeAfterHook(t, s, "?user=fast", "")
	if welcome["user"] != "fast" {
		t.Fatalf("welcome %v", welcome)
	}
	fast.SendJSON(`{"type":"ping"}`)
	fast.ExpectJSON("pong")
	if d, err := push(s, []string{"fast"}, json.RawMessage(`"meanwhile"`)); err != nil || d.Delivered != 1 {
		t.Fatalf("push while the hook hangs: %+v, %v", d, err)
	}
	fast.ExpectPush(`"meanwhile"`)
	if _, _, err := slow.TryRead(100 * time.Millisecond); err == nil {
		t.Fatal("the waiting connection got something before its verdict")
	}

	once.Do(func() { close(release) })
	if m := slow.ExpectJSON("welcome"); m["user"] != "slow" {
		t.Fatalf("welcome %v", m)
	}
	if m := slow.ExpectJSON("ack"); m["ref"] != float64(7) {
		t.Fatalf("the request sent before the welcome: %v", m)
	}
}

// TestConnectHookBoundsTheConnectionsWaiting: 1,000 connections against
// a hook that hangs; no more than the bound ever wait, the rest are told
// at once to retry, and every one ends once the hook's deadline passes.
func TestConnectHookBoundsTheConnectionsWaiting(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 connections")
	}
	const n, bound = 1000, 100
	var inside, most atomic.Int64
	s := startEngine(t, Config{AdmitMaxPending: bound, AdmitTimeout: 2 * time.Second, Admit: admitFunc(func(ctx context.Context, f wire.ConnectFacts) (wire.Admission, error) {
		now := inside.Add(1)
		for m := most.Load(); now > m && !most.CompareAndSwap(m, now); m = most.Load() {
		}
		<-ctx.Done()
		inside.Add(-1)
		return wire.Admission{}, ctx.Err()
	})}, nil)
	codes := make(chan float64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dial(t, s)
			c.Write([]byte(upgradeRequest(fmt.Sprintf("/ws?user=u%d", i))))
			c.ExpectStatus(http.StatusSwitchingProtocols)
			codes <- c.ExpectJSON("disconnect")["code"].(float64)
		}()
	}
	wg.Wait()
	close(codes)
	count := 0
	for code := range codes {
		if code != 4006 {
			t.Fatalf("code %v, want 4006 connect_unavailable", code)
		}
		count++
	}
	if count != n || most.Load() > bound {
		t.Fatalf("%d disconnects of %d; at most %d asked the hook at once, bound %d", count, n, most.Load(), bound)
	}
	if o := s.admit.verdicts[admitOverflow].Load(); o < n-bound {
		t.Fatalf("%d told at once to retry, want at least %d", o, n-bound)
	}
}

// TestConnectHookThatIgnoresItsDeadline: an Admitter stuck past its
// context's deadline still cannot keep a client waiting: the loop's
// wheel tells it to retry.
func TestConnectHookThatIgnoresItsDeadline(t *testing.T) {
	stuck := make(chan struct{})
	s := startEngine(t, Config{AdmitTimeout: 100 * time.Millisecond, Admit: admitFunc(func(context.Context, wire.ConnectFacts) (wire.Admission, error) {
		<-stuck
		return wire.Admission{}, nil
	})}, nil)
	t.Cleanup(func() { close(stuck) }) // before the engine's cleanups, which check for leaks
	c := dial(t, s)
	c.Write([]byte(upgradeRequest("/ws?user=x")))
	c.ExpectStatus(http.StatusSwitchingProtocols)
	expectUnavailable(t, s, c)
}

// TestConnectHookVerdictForAClosedConnection: a client that leaves while
// it waits is forgotten; its verdict, when it comes, changes nothing.
func TestConnectHookVerdictForAClosedConnection(t *testing.T) {
	release := make(chan struct{})
	asked := make(chan struct{}, 1)
	s := startEngine(t, Config{Admit: admitFunc(func(context.Context, wire.ConnectFacts) (wire.Admission, error) {
		asked <- struct{}{}
		<-release
		return wire.Admission{User: "ghost"}, nil
	})}, nil)
	c := dial(t, s)
	c.Write([]byte(upgradeRequest("/ws?user=x")))
	c.ExpectStatus(http.StatusSwitchingProtocols)
	<-asked
	c.NC.Close()
	waitFor(t, time.Second, func() error {
		if g := s.admit.verdicts[admitGone].Load(); g != 1 {
			return fmt.Errorf("gone %d", g)
		}
		return nil
	})
	close(release)
	waitFor(t, time.Second, func() error {
		if p := s.admit.pending.Load(); p != 0 {
			return fmt.Errorf("%d pending", p)
		}
		return nil
	})
	if s.Conns() != 0 || s.pool.UserConns("ghost") != 0 {
		t.Fatalf("conns %d, ghost's %d: the late verdict joined a closed connection", s.Conns(), s.pool.UserConns("ghost"))
	}
}

// TestConnectHookWaitIsBoundedInBytes: a client that floods before its
// welcome is closed, not buffered without end.
func TestConnectHookWaitIsBoundedInBytes(t *testing.T) {
	release := make(chan struct{})
	s := startEngine(t, Config{MaxMessage: 1024, Admit: admitFunc(func(context.Context, wire.ConnectFacts) (wire.Admission, error) {
		<-release
		return wire.Admission{}, nil
	})}, nil)
	t.Cleanup(func() { close(release) })
	c := dial(t, s)
	c.Write([]byte(upgradeRequest("/ws?user=x")))
	c.ExpectStatus(http.StatusSwitchingProtocols)
	big := strings.Repeat("x", 4096)
	for range 4 {
		_, _ = c.NC.Write(maskedFrame(ws.OpText, true, []byte(big)))
	}
	c.ExpectEOF()
	waitFor(t, time.Second, closeCount(s, wire.ReasonTooLarge))
}

package engine

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"

	"github.com/wspush/wspush/server/internal/auth"
	"github.com/wspush/wspush/server/internal/wstest"
)

// Issue 13 §4: what a client may do is the backend's to decide.

// One token cannot hold hundreds of connections: past --max-user-conns
// the user's oldest connection is closed, told why (4504 replaced, no
// reconnect), and the newest works.
func TestUserAtItsConnectionCapLosesItsOldest(t *testing.T) {
	s := startEngine(t, Config{MaxUserConns: 3}, nil)
	var cs []*client
	for range 3 {
		c, _ := dialAs(t, s, "?user=mallory", "")
		cs = append(cs, c)
	}
	newest, _ := dialAs(t, s, "?user=mallory", "")
	d := cs[0].ExpectJSON("disconnect")
	if d["code"] != 4504.0 || d["reconnect"] != false {
		t.Fatalf("the oldest got %v, want the replaced disconnect", d)
	}
	cs[0].ExpectClose(4504)
	waitFor(t, 5*time.Second, func() error {
		if n := s.UserConns("mallory"); n != 3 {
			return errorf("%d connections, want 3", n)
		}
		return nil
	})
	newest.SendJSON(`{"type":"ping"}`)
	newest.ExpectJSON("pong")
	res, err := push(s, []string{"mallory"}, json.RawMessage(`1`))
	if err != nil || res.Delivered != 3 {
		t.Fatalf("push after the cap: %+v %v", res, err)
	}
}

// A room the backend put a user in is the backend's: the client cannot
// leave it. Rooms it joined itself it can.
func TestClientCannotLeaveARoomTheBackendChose(t *testing.T) {
	s := startEngine(t, Config{}, nil)
	c, _ := dialAs(t, s, "?user=ann", "")
	if _, err := s.AddToRoom(context.Background(), "billing", []string{"ann"}); err != nil {
		t.Fatal(err)
	}
	c.SendJSON(`{"type":"leave","room":"billing","ref":1}`)
	if e := c.ExpectJSON("error"); e["code"] != "forbidden" {
		t.Fatalf("leave of the backend's room: %v", e)
	}
	if n, _ := publish(s, "billing", json.RawMessage(`"still"`)); n != 1 {
		t.Fatalf("publish reached %d after the refused leave", n)
	}
	c.ExpectPush(`"still"`)
	c.SendJSON(`{"type":"join","room":"chat","ref":2}`)
	c.ExpectJSON("ack")
	c.SendJSON(`{"type":"leave","room":"chat","ref":3}`)
	c.ExpectJSON("ack")
}

// A token's send_to names whom it may send to; --client-sends off refuses
// every client send, webhook hands them to the backend only.
func TestClientSendsAreTheBackendsToAllow(t *testing.T) {
	s, _ := startRelay(t, Config{Auth: &auth.Authenticator{Secret: wstest.Secret}})
	tok := token(t, wstest.Secret, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "al"}, Send: true, SendTo: []string{"support:*", "bob"}})
	c, _ := dialAs(t, s, "?token="+tok, "")
	bob, _ := dialAs(t, s, "?token="+token(t, wstest.Secret, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "bob"}}), "")
	c.SendJSON(`{"type":"send","to":"eve","data":1,"ref":1}`)
	if e := c.ExpectJSON("error"); e["code"] != "forbidden" {
		t.Fatalf("send to eve: %v", e)
	}
	c.SendJSON(`{"type":"send","to":"bob","data":2,"ref":2}`)
	c.ExpectJSON("ack")
	bob.ExpectPush(`2`)

	off := startEngine(t, Config{ClientSends: "off"}, nil)
	o, _ := dialAs(t, off, "?user=al", "")
	o.SendJSON(`{"type":"send","to":"bob","data":1,"ref":1}`)
	if e := o.ExpectJSON("error"); e["code"] != "forbidden" {
		t.Fatalf("send with --client-sends off: %v", e)
	}

	// The webhook is the server's (server/hooks_test.go follows the send
	// there): the engine hands the send to its hooks as for the webhook
	// alone, and delivers nothing.
	wh, hooks := startRelay(t, Config{ClientSends: "webhook"})
	w, _ := dialAs(t, wh, "?user=al", "")
	target, _ := dialAs(t, wh, "?user=bob", "")
	w.SendJSON(`{"type":"send","to":"bob","data":3,"ref":1}`)
	w.ExpectJSON("ack")
	waitFor(t, 5*time.Second, func() error {
		if got := hooks.sentToWebhook(); len(got) != 1 || got[0] != "al>bob 3" {
			return errorf("sends for the webhook %q, want al>bob 3", got)
		}
		return nil
	})
	target.SendJSON(`{"type":"ping"}`)
	target.ExpectJSON("pong") // nothing came before it: the send was not delivered
	if err := (Config{ClientSends: "sometimes"}).Validate(); err == nil {
		t.Fatal("--client-sends sometimes accepted")
	}
}

// Pings and fragments count against --max-rate like messages: 200 pings
// from one client are not 200 pongs (issue: 20,000 got 20,000 in 0.06 s).
func TestPingFloodIsRateLimited(t *testing.T) {
	s := startEngine(t, Config{MaxRate: 20}, nil)
	c, _ := dialAs(t, s, "?user=flood", "")
	var b []byte
	for range 200 {
		b = append(b, maskedFrame(ws.OpPing, true, nil)...)
	}
	c.Write(b)
	pongs := 0
	for {
		h, p := c.Read()
		if h.OpCode == ws.OpPong {
			pongs++
			continue
		}
		var d map[string]any
		if h.OpCode != ws.OpText || json.Unmarshal(p, &d) != nil || d["code"] != 4004.0 {
			t.Fatalf("after %d pongs: %v %q, want the rate_limited disconnect", pongs, h.OpCode, p)
		}
		break
	}
	if pongs >= 200 || pongs > 2*20+5 {
		t.Fatalf("%d pongs for 200 pings at --max-rate 20", pongs)
	}
}

// A message may not come in endless fragments (issue: 200,000 empty
// continuation frames were neither counted nor ever finished a message).
func TestEndlessFragmentsCloseTheConnection(t *testing.T) {
	s := startEngine(t, Config{MaxRate: -1}, nil)
	c, _ := dialAs(t, s, "?user=frag", "")
	b := maskedFrame(ws.OpText, false, []byte(`{"type":`))
	for range 1000 {
		b = append(b, maskedFrame(ws.OpContinuation, false, nil)...)
	}
	c.Write(b)
	d := c.ExpectJSON("disconnect")
	if d["code"] != 4005.0 {
		t.Fatalf("disconnect %v, want message_too_big", d)
	}
	c.ExpectClose(ws.StatusMessageTooBig)
}

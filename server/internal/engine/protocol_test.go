package engine

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"

	"github.com/wspush/wspush/server/internal/auth"
	"github.com/wspush/wspush/server/internal/wire"
	"github.com/wspush/wspush/server/internal/wstest"
)

func TestWelcomeNamesConnUserAndPing(t *testing.T) {
	s := startEngine(t, Config{PingInterval: 7 * time.Second}, nil)
	_, w := dialAs(t, s, "?user=alice", "")
	if w["user"] != "alice" || w["ping"] != 7000.0 || !strings.HasPrefix(w["conn"].(string), "c") {
		t.Fatalf("welcome %v", w)
	}
	_, w = dialAs(t, s, "", "")
	if u, _ := w["user"].(string); !strings.HasPrefix(u, "anon-") {
		t.Fatalf("anonymous welcome %v", w)
	}
}

func TestRequestsAreAnsweredAndBadOnesKeepTheConnection(t *testing.T) {
	s, _ := startRelay(t, Config{MaxMessage: 4096})
	c, _ := dialAs(t, s, "?user=alice", "")
	c.SendJSON(`{"type":"ping"}`)
	c.ExpectJSON("pong")

	for _, tc := range []struct{ req, code string }{
		{`{"type":"join","room":"r","ref":1}`, ""},
		{`{"type":"publish","room":"r","data":{"x":1},"ref":"p1"}`, ""},
		{`{"type":"leave","room":"r","ref":2}`, ""},
		{`{"type":"send","to":"bob","data":"hi","ref":3}`, ""},
		{`not json`, "bad_request"},
		{`{"type":"dance","ref":4}`, "unknown_type"},
		{`{"ref":5}`, "bad_request"},
		{`{"type":"join","ref":6}`, "bad_request"},
		{`{"type":"publish","room":"r","ref":7}`, "bad_request"},
		{`{"type":"send","data":1,"ref":8}`, "bad_request"},
		{`{"type":"publish","room":"r","data":"` + strings.Repeat("x", 3000) + `","ref":9}`, "too_large"},
		{`{"type":"join","room":"r","ref":{"an":"object"}}`, "bad_request"},
	} {
		c.SendJSON(tc.req)
		if tc.code == "" {
			m := c.ExpectJSON("ack")
			if m["ref"] == nil {
				t.Fatalf("%s: ack without ref: %v", tc.req, m)
			}
			if strings.Contains(tc.req, "publish") {
				// alice is in room r: her own copy follows the ack.
				if p := c.ExpectJSON("push"); p["room"] != "r" {
					t.Fatalf("push %v", p)
				}
			}
			continue
		}
		m := c.ExpectJSON("error")
		if m["code"] != tc.code || m["message"] == "" {
			t.Fatalf("%s: got %v, want code %s", tc.req, m, tc.code)
		}
	}
	c.SendJSON(`{"type":"ping"}`)
	c.ExpectJSON("pong")
}

func TestPublishAndSendBetweenClients(t *testing.T) {
	s, _ := startRelay(t, Config{})
	alice, _ := dialAs(t, s, "?user=alice", "")
	bob, _ := dialAs(t, s, "?user=bob", "")
	carol, _ := dialAs(t, s, "?user=carol", "")
	for _, c := range []*client{alice, bob} {
		c.SendJSON(`{"type":"join","room":"chat","ref":1}`)
		c.ExpectJSON("ack")
	}
	alice.SendJSON(`{"type":"publish","room":"chat","data":{"text":"你好"},"ref":2}`)
	// The ack says the request was taken; the publisher's own copy follows.
	alice.ExpectJSON("ack")
	for _, c := range []*client{alice, bob} {
		m := c.ExpectJSON("push")
		if m["room"] != "chat" || m["from"] != "alice" || m["data"].(map[string]any)["text"] != "你好" || m["id"] == "" || m["ts"] == nil {
			t.Fatalf("push %v", m)
		}
	}
	carol.SendJSON(`{"type":"send","to":"bob","data":"psst","ref":3}`)
	carol.ExpectJSON("ack")
	m := bob.ExpectJSON("push")
	if m["from"] != "carol" || m["data"] != "psst" || m["room"] != nil {
		t.Fatalf("push %v", m)
	}
	// carol is in no room and got nothing but her ack.
	carol.SendJSON(`{"type":"ping"}`)
	carol.ExpectJSON("pong")
}

func TestFloodIsDisconnectedAndOthersCarryOn(t *testing.T) {
	s := startEngine(t, Config{MaxRate: 10}, nil)
	flood, _ := dialAs(t, s, "?user=flood", "")
	calm, _ := dialAs(t, s, "?user=calm", "")
	var b []byte
	for range 100 {
		b = append(b, maskedFrame(ws.OpText, true, []byte(`{"type":"ping"}`))...)
	}
	flood.Write(b)
	for {
		h, p := flood.Read()
		if h.OpCode != ws.OpText {
			t.Fatalf("got %v before the disconnect", h.OpCode)
		}
		var m map[string]any
		_ = json.Unmarshal(p, &m)
		if m["type"] == "pong" {
			continue
		}
		if m["type"] != "disconnect" || m["code"] != 4004.0 || m["reconnect"] != true {
			t.Fatalf("got %s", p)
		}
		break
	}
	flood.ExpectClose(4004)
	flood.Send(ws.OpClose, []byte{0x0f, 0xa4})
	flood.ExpectEOF()
	waitFor(t, time.Second, closeCount(s, wire.ReasonRateLimited))
	calm.SendJSON(`{"type":"ping"}`)
	calm.ExpectJSON("pong")
}

func TestTokens(t *testing.T) {
	const secret = wstest.Secret
	s := startEngine(t, Config{Auth: &auth.Authenticator{Secret: secret}}, nil)
	exp := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(time.Now().Add(d)) }
	good := token(t, secret, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice", ExpiresAt: exp(time.Hour)}, Rooms: []string{"chat:*"}})

	_, w := dialAs(t, s, "?token="+good, "")
	if w["user"] != "alice" {
		t.Fatalf("welcome %v", w)
	}
	_, w = dialAs(t, s, "", "Authorization: Bearer "+good)
	if w["user"] != "alice" {
		t.Fatalf("welcome %v", w)
	}

	for _, tc := range []struct{ name, query string }{
		{"Missing", "?user=alice"},
		{"Forged", "?token=" + token(t, "wrong", auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice"}})},
		{"Expired", "?token=" + token(t, secret, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice", ExpiresAt: exp(-time.Hour)}})},
		{"NoSubject", "?token=" + token(t, secret, auth.Claims{})},
		{"Garbage", "?token=abc.def.ghi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, s)
			c.Write([]byte(upgradeRequest("/ws" + tc.query)))
			_, body := c.ExpectStatus(http.StatusUnauthorized)
			if !strings.Contains(body, `"error":"unauthorized"`) {
				t.Fatalf("body %s", body)
			}
		})
	}
}

func TestTokenClaimsDecideRooms(t *testing.T) {
	const secret = wstest.Secret
	s, _ := startRelay(t, Config{Auth: &auth.Authenticator{Secret: secret}})
	tok := token(t, secret, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice"}, Rooms: []string{"chat:*", "news"}, Publish: []string{"chat:1"}})
	c, _ := dialAs(t, s, "?token="+tok, "")
	for _, tc := range []struct{ req, want string }{
		{`{"type":"join","room":"chat:7","ref":1}`, "ack"},
		{`{"type":"join","room":"news","ref":2}`, "ack"},
		{`{"type":"join","room":"newsroom","ref":3}`, "error"},
		{`{"type":"publish","room":"chat:1","data":1,"ref":4}`, "ack"},
		{`{"type":"publish","room":"chat:7","data":1,"ref":5}`, "error"},
		{`{"type":"send","to":"bob","data":1,"ref":6}`, "error"},
	} {
		c.SendJSON(tc.req)
		m := c.ExpectJSON(tc.want)
		if tc.want == "error" && m["code"] != "forbidden" {
			t.Fatalf("%s: %v", tc.req, m)
		}
	}
}

func TestConnectionThatOutlivesItsTokenIsAskedForANewOne(t *testing.T) {
	const secret = wstest.Secret
	s := startEngine(t, Config{Auth: &auth.Authenticator{Secret: secret}}, nil)
	tok := token(t, secret, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice", ExpiresAt: jwt.NewNumericDate(time.Now().Add(1500 * time.Millisecond))}})
	c, _ := dialAs(t, s, "?token="+tok, "")
	m := c.ExpectJSON("disconnect")
	if m["code"] != 4003.0 || m["reconnect"] != true {
		t.Fatalf("disconnect %v", m)
	}
	c.ExpectClose(4003)
	c.Send(ws.OpClose, []byte{0x0f, 0xa3})
	c.ExpectEOF()
	waitFor(t, time.Second, closeCount(s, wire.ReasonTokenExpired))
}

func TestOrigins(t *testing.T) {
	s := startEngine(t, Config{Origins: []string{"https://*.example.com", "localhost:*"}}, nil)
	for _, tc := range []struct {
		origin string
		status int
	}{
		{"https://app.example.com", 101},
		{"http://localhost:3000", 101},
		{"https://evil.com", 403},
		{"", 101}, // mini-programs send no Origin
	} {
		c := dial(t, s)
		req := upgradeRequest("/ws")
		if tc.origin != "" {
			req = strings.Replace(req, "\r\n\r\n", "\r\nOrigin: "+tc.origin+"\r\n\r\n", 1)
		}
		c.Write([]byte(req))
		c.ExpectStatus(tc.status)
	}
}

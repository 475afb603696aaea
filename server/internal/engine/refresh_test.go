package engine

import (
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wspush/wspush/server/internal/auth"
	"github.com/wspush/wspush/server/internal/wire"
)

func claims(user string, exp time.Time, rooms ...string) auth.Claims {
	c := auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: user}, Rooms: rooms}
	if !exp.IsZero() {
		c.ExpiresAt = jwt.NewNumericDate(exp)
	}
	return c
}

func TestRefreshAnswers(t *testing.T) {
	const secret = "s3cret-s3cret-s3cret-s3cret-0123"
	s := startEngine(t, Config{Auth: &auth.Authenticator{Secret: secret}}, nil)
	hour := time.Now().Add(time.Hour).Truncate(time.Second)
	c, _ := dialAs(t, s, "?token="+token(t, secret, claims("alice", hour, "a")), "")

	later := hour.Add(time.Hour)
	for _, tc := range []struct{ req, code string }{
		{`{"type":"refresh","ref":1}`, "bad_request"},
		{`{"type":"refresh","token":"","ref":2}`, "bad_request"},
		{`{"type":"refresh","token":"abc.def.ghi","ref":3}`, "unauthorized"},
		{`{"type":"refresh","token":"` + token(t, "wrong", claims("alice", later)) + `","ref":4}`, "unauthorized"},
		{`{"type":"refresh","token":"` + token(t, secret, claims("", later)) + `","ref":5}`, "unauthorized"},
		{`{"type":"refresh","token":"` + token(t, secret, claims("alice", time.Now().Add(-time.Hour))) + `","ref":6}`, "token_expired"},
		{`{"type":"refresh","token":"` + token(t, secret, claims("bob", later)) + `","ref":7}`, "forbidden"},
	} {
		c.SendJSON(tc.req)
		if m := c.ExpectJSON("error"); m["code"] != tc.code || m["ref"] == nil {
			t.Fatalf("%.60s: %v, want code %s", tc.req, m, tc.code)
		}
	}

	// Success: the new exp, and the new token's rooms.
	c.SendJSON(`{"type":"join","room":"b","ref":8}`)
	c.ExpectJSON("error")
	c.SendJSON(`{"type":"refresh","token":"` + token(t, secret, claims("alice", later, "b")) + `","ref":9}`)
	if m := c.ExpectJSON("ack"); m["ref"] != 9.0 || m["exp"] != float64(later.UnixMilli()) {
		t.Fatalf("ack %v, want exp %d", m, later.UnixMilli())
	}
	c.SendJSON(`{"type":"join","room":"b","ref":10}`)
	c.ExpectJSON("ack")
	c.SendJSON(`{"type":"join","room":"a","ref":11}`)
	if m := c.ExpectJSON("error"); m["code"] != "forbidden" {
		t.Fatalf("join a after the refresh: %v", m)
	}

	// A token without exp: no exp in the ack, and none on the connection.
	c.SendJSON(`{"type":"refresh","token":"` + token(t, secret, claims("alice", time.Time{})) + `","ref":"r"}`)
	if m := c.ExpectJSON("ack"); m["ref"] != "r" || m["exp"] != nil {
		t.Fatalf("ack %v, want no exp", m)
	}
}

func TestRefreshInDevelopmentModeIsAckedAndChangesNothing(t *testing.T) {
	s := startEngine(t, Config{}, nil)
	c, w := dialAs(t, s, "?user=alice", "")
	if _, ok := w["exp"]; ok {
		t.Fatalf("welcome %v has an exp", w)
	}
	c.SendJSON(`{"type":"refresh","token":"anything","ref":1}`)
	if m := c.ExpectJSON("ack"); m["ref"] != 1.0 || m["exp"] != nil {
		t.Fatalf("ack %v", m)
	}
	c.SendJSON(`{"type":"join","room":"x","ref":2}`)
	c.ExpectJSON("ack")
}

// TestConnectionThatKeepsRefreshingIsNeverDroppedForExpiry refreshes a
// short-lived token several times past the first token's exp; the wheel
// must follow each new expiry. Once the refreshes stop, the last token's
// exp ends the connection with token_expired.
func TestConnectionThatKeepsRefreshingIsNeverDroppedForExpiry(t *testing.T) {
	const secret = "s3cret-s3cret-s3cret-s3cret-0123"
	s := startEngine(t, Config{Auth: &auth.Authenticator{Secret: secret}}, nil)
	short := func() time.Time { return time.Now().Add(3 * time.Second) }
	first := short()
	c, w := dialAs(t, s, "?token="+token(t, secret, claims("alice", first)), "")
	exp := w["exp"].(float64)
	for ref := 1; time.Now().Before(first.Add(2 * time.Second)); ref++ {
		// Refresh when less than 1.5 s is left, as a client would.
		for time.Until(time.UnixMilli(int64(exp))) > 1500*time.Millisecond {
			time.Sleep(50 * time.Millisecond)
		}
		next := short()
		c.SendJSON(`{"type":"refresh","token":"` + token(t, secret, claims("alice", next)) + `","ref":` + strconv.Itoa(ref) + `}`)
		m := c.ExpectJSON("ack") // a disconnect here fails the test
		if m["exp"].(float64) <= exp {
			t.Fatalf("ack %v does not move exp past %v", m, exp)
		}
		exp = m["exp"].(float64)
	}
	c.SendJSON(`{"type":"ping"}`)
	c.ExpectJSON("pong")
	// No more refreshes: the last token expires.
	if m := c.ExpectJSON("disconnect"); m["code"] != 4003.0 {
		t.Fatalf("disconnect %v", m)
	}
	c.ExpectClose(4003)
	waitFor(t, 5*time.Second, closeCount(s, wire.ReasonTokenExpired))
}

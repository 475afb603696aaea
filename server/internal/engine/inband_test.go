package engine

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"

	"github.com/wspush/wspush/server/internal/auth"
	"github.com/wspush/wspush/server/internal/wire"
)

// TestInbandAuthFailuresAreToldAfterThe101 is the transcript of an
// auth=inband upgrade with a bad token: 101, the disconnect message, the
// close frame with the same code, and TCP ends once the client answers.
func TestInbandAuthFailuresAreToldAfterThe101(t *testing.T) {
	const secret = "s3cret-s3cret-s3cret-s3cret-0123"
	s := startEngine(t, Config{Auth: &auth.Authenticator{Secret: secret}}, nil)
	exp := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(time.Now().Add(d)) }
	for _, tc := range []struct {
		name, query string
		code        float64
		close       ws.StatusCode
		reconnect   bool
		reason      wire.CloseReason
	}{
		{"Expired", "?auth=inband&token=" + token(t, secret, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice", ExpiresAt: exp(-time.Hour)}}), 4003, 4003, true, wire.ReasonTokenExpired},
		{"Forged", "?auth=inband&token=" + token(t, "wrong", auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice"}}), 4503, 4503, false, wire.ReasonUnauthorized},
		{"NoSubject", "?token=" + token(t, secret, auth.Claims{}) + "&auth=inband", 4503, 4503, false, wire.ReasonUnauthorized},
		{"Garbage", "?auth=inband&token=abc.def.ghi", 4503, 4503, false, wire.ReasonUnauthorized},
		{"Missing", "?auth=inband&user=alice", 4503, 4503, false, wire.ReasonUnauthorized},
		{"BadSubject", "?auth=inband&token=" + token(t, secret, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "a\x01b"}}), 4503, 4503, false, wire.ReasonUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, s)
			c.Write([]byte(upgradeRequest("/ws" + tc.query)))
			c.ExpectStatus(http.StatusSwitchingProtocols)
			m := c.ExpectJSON("disconnect")
			if m["code"] != tc.code || m["reconnect"] != tc.reconnect || m["reason"] == "" {
				t.Fatalf("disconnect %v, want code %v reconnect %v", m, tc.code, tc.reconnect)
			}
			c.ExpectClose(tc.close)
			c.Send(ws.OpClose, []byte{byte(tc.close >> 8), byte(tc.close)})
			c.ExpectEOF()
			waitFor(t, time.Second, closeCount(s, tc.reason))
		})
	}
	if strings.Contains(wire.DisconnectUnauthorized.Reason, "retry") == false {
		t.Fatalf("the unauthorized reason %q should say not to retry", wire.DisconnectUnauthorized.Reason)
	}
}

// TestInbandAuthFailureDoesNotWaitForever: a client that never answers the
// close frame is dropped after the close timeout, like any disconnect.
func TestInbandAuthFailureDoesNotWaitForever(t *testing.T) {
	s := startEngine(t, Config{CloseTimeout: 200 * time.Millisecond, Auth: &auth.Authenticator{Secret: "s3cret-s3cret-s3cret-s3cret-0123"}}, nil)
	c := dial(t, s)
	c.Write([]byte(upgradeRequest("/ws?auth=inband&token=abc.def.ghi")))
	c.ExpectStatus(http.StatusSwitchingProtocols)
	c.ExpectClose(4503)
	c.ExpectEOF()
	waitFor(t, time.Second, func() error {
		if n := s.Conns(); n != 0 {
			return fmt.Errorf("%d connections still counted", n)
		}
		return nil
	})
}

// TestWithoutInbandAuthTheUpgradeIsRefused401 keeps PRODUCT.md's contract
// for clients that do not ask: auth=other is not auth=inband.
func TestWithoutInbandAuthTheUpgradeIsRefused401(t *testing.T) {
	s := startEngine(t, Config{Auth: &auth.Authenticator{Secret: "s3cret-s3cret-s3cret-s3cret-0123"}}, nil)
	for _, q := range []string{"?token=abc.def.ghi", "?auth=other&token=abc.def.ghi", "?xauth=inband&token=abc.def.ghi"} {
		c := dial(t, s)
		c.Write([]byte(upgradeRequest("/ws" + q)))
		_, body := c.ExpectStatus(http.StatusUnauthorized)
		if !strings.Contains(body, `"error":"unauthorized"`) {
			t.Fatalf("%s: body %s", q, body)
		}
	}
}

// TestInbandAuthLeavesOtherRefusalsAsTheyAre: auth=inband is about the
// token; a bad development-mode ?user= is still a 400.
func TestInbandAuthLeavesOtherRefusalsAsTheyAre(t *testing.T) {
	s := startEngine(t, Config{}, nil)
	c := dial(t, s)
	c.Write([]byte(upgradeRequest("/ws?auth=inband&user=" + strings.Repeat("x", 200))))
	c.ExpectStatus(http.StatusBadRequest)
}

func TestInbandAuthWithAGoodTokenIsAnOrdinaryConnection(t *testing.T) {
	const secret = "s3cret-s3cret-s3cret-s3cret-0123"
	s := startEngine(t, Config{MaxMessage: 5000, Auth: &auth.Authenticator{Secret: secret}}, nil)
	expAt := time.Now().Add(time.Hour).Truncate(time.Second)
	tok := token(t, secret, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice", ExpiresAt: jwt.NewNumericDate(expAt)}})
	c, w := dialAs(t, s, "?auth=inband&token="+tok, "")
	if w["user"] != "alice" || w["max_message"] != 5000.0 || w["exp"] != float64(expAt.UnixMilli()) {
		t.Fatalf("welcome %v, want alice, max_message 5000 and exp %d", w, expAt.UnixMilli())
	}
	c.SendJSON(`{"type":"ping"}`)
	c.ExpectJSON("pong")

	// A token without exp: the welcome has no exp.
	_, w = dialAs(t, s, "?auth=inband&token="+token(t, secret, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "bob"}}), "")
	if _, ok := w["exp"]; ok || w["max_message"] != 5000.0 {
		t.Fatalf("welcome %v, want max_message and no exp", w)
	}
}

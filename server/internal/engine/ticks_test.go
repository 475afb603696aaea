package engine

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"
	"github.com/golang-jwt/jwt/v5"

	"github.com/wspush/wspush/server/internal/auth"
	"github.com/wspush/wspush/server/internal/wire"
)

// A token valid beyond what the 32-bit tick counter reaches (13.6 years
// after the start) ends at the counter's last value; converting it modulo
// 2^32 once made a token valid until 2040 expire within seconds.
func TestTokenValidBeyondTheTickCounterDoesNotExpire(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	s := startEngine(t, Config{Auth: &auth.Authenticator{Secret: secret}, PingInterval: 100 * time.Millisecond, IdleTimeout: time.Minute}, nil)
	// 2^32 ticks after the start, plus a second: modulo 2^32 that is one
	// second in, where the old conversion put the token's end.
	exp := s.start.Add(time.Duration(math.MaxUint32)*tick + time.Second).Truncate(time.Second).Add(time.Second)
	wrapped := uint32(exp.Sub(s.start) / tick)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: "alice", ExpiresAt: jwt.NewNumericDate(exp)}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	c := wsDial(t, s, "/ws?token="+tok)
	if p, err := readText(c, 5*time.Second); err != nil || !strings.Contains(string(p), `"user":"alice"`) {
		t.Fatalf("welcome %q %v", p, err)
	}
	if got := s.ticksAt(exp); got != math.MaxUint32 {
		t.Fatalf("ticksAt(%v) = %d, want the counter's last value", exp, got)
	}
	// Past the tick where the wrapped expiry fell, with pings every tick
	// between, the connection still answers.
	waitFor(t, 5*time.Second, func() error {
		if now := s.ticksNow(); now <= wrapped+2 {
			return errorf("tick %d, waiting for %d", now, wrapped+2)
		}
		return nil
	})
	if err := wsutil.WriteClientText(c, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	if p, err := readText(c, 5*time.Second); err != nil || !strings.Contains(string(p), `"pong"`) {
		t.Fatalf("after the wrapped expiry: %q %v", p, err)
	}
	if n := s.closes[wire.ReasonTokenExpired].Load(); n != 0 {
		t.Fatalf("%d connections closed as expired", n)
	}
}

// TestExpiryFarAheadDoesNotWrapTheTickCounter: an exp past what 32 bits
// of ticks hold (13.6 years) means "never", not a tick that wrapped round
// to the near future.
func TestExpiryFarAheadDoesNotWrapTheTickCounter(t *testing.T) {
	s := &Engine{start: time.Now()}
	wrap := s.start.Add(time.Duration(math.MaxUint32)*tick + 3*tick)
	if got := s.ticksAt(wrap); got != math.MaxUint32 {
		t.Fatalf("ticksAt(13.6 years + 3 ticks) = %d, want %d", got, uint32(math.MaxUint32))
	}
	if got := s.ticksAt(s.start.Add(5 * tick)); got != 5 {
		t.Fatalf("ticksAt(5 ticks) = %d", got)
	}
}

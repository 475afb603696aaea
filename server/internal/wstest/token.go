package wstest

import (
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// Secret is a JWT secret long enough for HS256 (auth.MinSecret), for
// tests that need one and no particular one.
const Secret = "0123456789abcdef0123456789abcdef-test"

// Token is claims signed with HS256 and secret, as a backend signs a
// connection token (docs/protocol.md).
func Token(t testing.TB, secret string, claims jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

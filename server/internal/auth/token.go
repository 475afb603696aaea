package auth

import (
	"errors"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwtLeeway is the clock skew allowed between the backend that signs
// tokens and this server.
const jwtLeeway = 5 * time.Second

// options are the parser's checks of a token beyond its signature.
func (a *Authenticator) options() []jwt.ParserOption {
	// Only HS256: "none" and the RS/HS key confusion never get a key.
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"HS256"}), jwt.WithLeeway(jwtLeeway)}
	if a.Audience != "" {
		opts = append(opts, jwt.WithAudience(a.Audience))
	}
	if a.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(a.Issuer))
	}
	if a.RequireExp {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	return opts
}

// tokenError maps a parser error to the upgrade's rejection.
func tokenError(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return errExpiredToken
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return errTokenAudience
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return errTokenIssuer
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		// The parser names the claim: "aud claim is required".
		switch msg := err.Error(); {
		case strings.Contains(msg, "aud claim"):
			return errTokenAudience
		case strings.Contains(msg, "iss claim"):
			return errTokenIssuer
		}
		return errTokenNoExp
	}
	return errBadToken
}

var (
	errTokenAudience = reject(401, "the token's aud does not name this server's --jwt-audience")
	errTokenIssuer   = reject(401, "the token's iss is not this server's --jwt-issuer")
	errTokenNoExp    = reject(401, "the token has no exp claim, which this server requires")
)

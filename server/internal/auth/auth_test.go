package auth

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"
)

// testSecret is a JWT secret long enough for HS256 (MinSecret).
const testSecret = "0123456789abcdef0123456789abcdef-test"

// sign is c signed with secret by method.
func sign(t *testing.T, method jwt.SigningMethod, secret any, c Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hs256 is c signed as the backend does, with testSecret.
func hs256(t *testing.T, c Claims) string {
	return sign(t, jwt.SigningMethodHS256, []byte(testSecret), c)
}

// expectRejection checks that err is the upgrade's answer status whose
// reason names want.
func expectRejection(t *testing.T, err error, status int, want string) {
	t.Helper()
	rej, ok := err.(*ws.ConnectionRejectedError)
	if !ok {
		t.Fatalf("error %v (%T), want a rejection with status %d", err, err, status)
	}
	if rej.StatusCode() != status || !strings.Contains(rej.Error(), want) {
		t.Fatalf("rejection %d %q, want %d naming %q", rej.StatusCode(), rej.Error(), status, want)
	}
}

func TestAuthenticateInDevelopmentModeTrustsTheNamedUser(t *testing.T) {
	var a Authenticator
	id, err := a.Authenticate([]byte("user=alice&x=1"), nil)
	if err != nil || id.User != "alice" || id.Perms != nil || !id.Exp.IsZero() {
		t.Fatalf("?user=alice: %+v %v, want alice with every permission", id, err)
	}
	if !id.Perms.CanJoin("any") || !id.Perms.CanPublish("any") || !id.Perms.CanSend() || !id.Perms.CanSendTo("bob") {
		t.Fatal("nil Perms refuse something")
	}
	// A bearer token means nothing without a secret.
	if id, err := a.Authenticate([]byte("user=bob"), []byte("not.a.token")); err != nil || id.User != "bob" {
		t.Fatalf("?user=bob with a bearer: %+v %v", id, err)
	}
	for i, want := range []string{"anon-1", "anon-2"} {
		if id, err := a.Authenticate(nil, nil); err != nil || id.User != want {
			t.Fatalf("anonymous %d: %+v %v, want %s", i, id, err, want)
		}
	}
	_, err = a.Authenticate([]byte("user=alice%E2%80%8B"), nil) // U+200B zero width space
	expectRejection(t, err, http.StatusBadRequest, "user ids")
	if Invalid(err) || Expired(err) {
		t.Fatalf("a bad ?user= counts as a bad token: %v", err)
	}
}

func TestAuthenticateTakesTheTokenFromQueryOrBearer(t *testing.T) {
	a := &Authenticator{Secret: testSecret}
	good := hs256(t, Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice"}})
	for _, tc := range []struct {
		name          string
		query, bearer string
	}{
		{"Query", "token=" + good, ""},
		{"Bearer", "", good},
		{"QueryBeforeBearer", "token=" + good, "garbage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := a.Authenticate([]byte(tc.query), []byte(tc.bearer))
			if err != nil || id.User != "alice" || id.Perms == nil {
				t.Fatalf("%+v %v, want alice with the token's permissions", id, err)
			}
		})
	}
	// With a secret, ?user= is ignored: a token is required.
	_, err := a.Authenticate([]byte("user=alice"), nil)
	expectRejection(t, err, http.StatusUnauthorized, "a token is required")
	if !Invalid(err) {
		t.Fatalf("no token is not Invalid: %v", err)
	}
}

func TestVerifyTokenRefusesWhatNeverWill(t *testing.T) {
	a := &Authenticator{Secret: testSecret}
	claims := Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice"}}
	ago := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(time.Now().Add(-d)) }
	for _, tc := range []struct {
		name, token string
		status      int
		reason      string
		expired     bool
	}{
		{"OtherSecret", sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 40)), claims), 401, "invalid token", false},
		{"Malformed", "a.b.c", 401, "invalid token", false},
		{"NoSubject", hs256(t, Claims{}), 401, "no sub claim", false},
		{"InvisibleSubject", hs256(t, Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice\u202e"}}), 400, "sub is not a user id", false},
		{"Expired", hs256(t, Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice", ExpiresAt: ago(time.Minute)}}), 401, "token expired", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.VerifyToken(tc.token)
			expectRejection(t, err, tc.status, tc.reason)
			if Expired(err) != tc.expired || Invalid(err) == tc.expired {
				t.Fatalf("Expired %v Invalid %v, want expired %v", Expired(err), Invalid(err), tc.expired)
			}
		})
	}
	// Within the leeway a token that has just passed its exp still holds.
	c := claims
	c.ExpiresAt = ago(jwtLeeway / 2)
	if id, err := a.VerifyToken(hs256(t, c)); err != nil || !id.Exp.Equal(c.ExpiresAt.Time) {
		t.Fatalf("exp within the leeway: %+v %v", id, err)
	}
}

// The checks that held before issue 13 keep holding: only HS256, never
// "none" nor another HMAC.
func TestTokenAlgorithmsOtherThanHS256AreRefused(t *testing.T) {
	a := &Authenticator{Secret: testSecret}
	claims := Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice"}}
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims)
	hs512 := sign(t, jwt.SigningMethodHS512, []byte(testSecret), claims)
	hs384 := sign(t, jwt.SigningMethodHS384, []byte(testSecret), claims)
	for _, tok := range []string{none, hs512, hs384} {
		_, err := a.Authenticate([]byte("token="+tok), nil)
		expectRejection(t, err, http.StatusUnauthorized, "invalid token")
		if !Invalid(err) {
			t.Fatalf("%.20s...: not Invalid", tok)
		}
	}
	if id, err := a.Authenticate([]byte("token="+hs256(t, claims)), nil); err != nil || id.User != "alice" {
		t.Fatalf("HS256: %+v %v", id, err)
	}
}

func TestTokenAudienceIssuerAndRequiredExp(t *testing.T) {
	a := &Authenticator{Secret: testSecret, Audience: "wspush", Issuer: "https://auth.example.com", RequireExp: true}
	exp := jwt.NewNumericDate(time.Now().Add(time.Hour))
	good := jwt.RegisteredClaims{Subject: "alice", Audience: jwt.ClaimStrings{"other", "wspush"}, Issuer: "https://auth.example.com", ExpiresAt: exp}
	id, err := a.Authenticate([]byte("token="+hs256(t, Claims{RegisteredClaims: good})), nil)
	if err != nil || id.User != "alice" || !id.Exp.Equal(exp.Time) {
		t.Fatalf("good token: %+v %v", id, err)
	}
	for _, tc := range []struct {
		name   string
		change func(*jwt.RegisteredClaims)
		reason string
	}{
		{"WrongAudience", func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{"billing"} }, "aud"},
		{"NoAudience", func(c *jwt.RegisteredClaims) { c.Audience = nil }, "aud"},
		{"WrongIssuer", func(c *jwt.RegisteredClaims) { c.Issuer = "https://evil.example" }, "iss"},
		{"NoIssuer", func(c *jwt.RegisteredClaims) { c.Issuer = "" }, "iss"},
		{"NoExp", func(c *jwt.RegisteredClaims) { c.ExpiresAt = nil }, "exp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			claims := good
			tc.change(&claims)
			_, err := a.Authenticate([]byte("token="+hs256(t, Claims{RegisteredClaims: claims})), nil)
			expectRejection(t, err, http.StatusUnauthorized, tc.reason)
			if !Invalid(err) || Expired(err) {
				t.Fatalf("Invalid %v Expired %v, want a token that will never do", Invalid(err), Expired(err))
			}
		})
	}
	// Without those settings the same claims are not asked for.
	plain := &Authenticator{Secret: testSecret}
	if _, err := plain.VerifyToken(hs256(t, Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice"}})); err != nil {
		t.Fatalf("no aud, iss or exp without the settings: %v", err)
	}
}

func TestPermsFollowTheTokensClaims(t *testing.T) {
	a := &Authenticator{Secret: testSecret}
	verify := func(c Claims) *Perms {
		t.Helper()
		c.Subject = "alice"
		id, err := a.VerifyToken(hs256(t, c))
		if err != nil {
			t.Fatal(err)
		}
		return id.Perms
	}
	p := verify(Claims{Rooms: []string{"chat:*", "news"}, Publish: []string{"chat:1"}})
	for _, tc := range []struct {
		what string
		got  bool
		want bool
	}{
		{"join chat:1", p.CanJoin("chat:1"), true},
		{"join chat:", p.CanJoin("chat:"), true},
		{"join news", p.CanJoin("news"), true},
		{"join news2", p.CanJoin("news2"), false},
		{"join chat", p.CanJoin("chat"), false},
		{"publish chat:1", p.CanPublish("chat:1"), true},
		{"publish chat:2", p.CanPublish("chat:2"), false},
		{"send", p.CanSend(), false},
		{"send to bob", p.CanSendTo("bob"), false},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", tc.what, tc.got, tc.want)
		}
	}
	all := verify(Claims{Rooms: []string{"*"}, Send: true})
	if !all.CanJoin("whatever") || all.CanPublish("whatever") || !all.CanSend() || !all.CanSendTo("bob") {
		t.Errorf("rooms * and send: %+v", *all)
	}
	some := verify(Claims{Send: true, SendTo: []string{"support-*", "bob"}})
	if !some.CanSendTo("support-7") || !some.CanSendTo("bob") || some.CanSendTo("bobby") || !some.CanSend() {
		t.Errorf("send_to: %+v", *some)
	}
	if verify(Claims{SendTo: []string{"bob"}}).CanSendTo("bob") {
		t.Error("send_to without send allows a send")
	}
}

func TestOriginPatternWithoutSchemeNeedsHTTPS(t *testing.T) {
	patterns := []string{"*.example.com", "localhost:*", "http://legacy.example.org"}
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"https://app.example.com", true},
		{"http://app.example.com", false}, // anyone on the path can rewrite a plain http page
		{"ws://app.example.com", false},
		{"wss://app.example.com", false},
		{"http://localhost:3000", true}, // development on this machine
		{"https://localhost:3000", true},
		{"http://legacy.example.org", true}, // the scheme was named
		{"https://legacy.example.org", false},
		{"https://example.com", false},
		{"https://app.example.com.evil.org", false},
		{"null", false},
		{"%zz", false},
		{"", true}, // mini-programs and servers send no Origin
	} {
		err := CheckOrigin(patterns, []byte(tc.origin))
		if tc.ok {
			if err != nil {
				t.Errorf("Origin %q: %v, want it allowed", tc.origin, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("Origin %q allowed", tc.origin)
			continue
		}
		expectRejection(t, err, http.StatusForbidden, "origin not allowed")
	}
	if err := CheckOrigin(nil, []byte("http://anything.example")); err != nil {
		t.Errorf("no patterns: %v, want every origin allowed", err)
	}
	if err := CheckOrigin([]string{"http://127.0.0.1:*"}, []byte("http://127.0.0.1:5173")); err != nil {
		t.Errorf("a pattern with a scheme and a port: %v", err)
	}
}

func TestNamesRefuseInvisibleCharacters(t *testing.T) {
	for _, name := range []string{
		"alice\u200b", // zero width space (Cf)
		"alice\u0085", // next line (Cc)
		"\u202eecila", // right-to-left override (Cf)
		"ali\u2028ce", // line separator (Zl)
		"ali\u2029ce", // paragraph separator (Zp)
		"alice\u00a0", // no-break space (Zs)
		"alice\u2066", // left-to-right isolate (Cf)
		"alice\ufeff", // byte order mark (Cf)
		"alice\u3164", // Hangul filler: a letter that shows nothing
		"alice\ue000", // private use (Co)
		"alice\u0378", // unassigned (Cn)
		"news\u200b",  // the same rule holds for rooms
		"alice\x00",
		"tab\there",
		"bad\xffutf8",
		"alice\ufffd", // a real U+FFFD hides what was meant
		"",
		strings.Repeat("u", 129),
	} {
		if ValidName(name) {
			t.Errorf("ValidName(%q) = true", name)
		}
	}
	// Visible names of any script pass, emoji with their variation selector.
	for _, name := range []string{"Zoë 李雷 ❤️", "新闻 news", "alice", "x y/z", "chat:*", strings.Repeat("u", 128), "ü"} {
		if !ValidName(name) {
			t.Errorf("ValidName(%q) = false", name)
		}
	}
}

// queryValue answers as url.ParseQuery(q).Get(key) does, for the queries
// clients send and for broken ones.
func FuzzQueryValue(f *testing.F) {
	for _, q := range []string{"", "user=alice", "a=1&user=bob&user=carol", "user", "user=",
		"us%65r=x%20y", "user=a+b", "user=%zz&user=ok", "user=a;b&user=c", "%zz=1&user=d",
		"token=abc.def&user=e", "&&user=f&", "user=%E4%BD%A0", "x=1&user=g=h"} {
		f.Add(q, "user")
	}
	f.Fuzz(func(t *testing.T, q, key string) {
		vals, _ := url.ParseQuery(q)
		if got, want := queryValue([]byte(q), key), vals.Get(key); got != want {
			t.Fatalf("queryValue(%q, %q) = %q, url.ParseQuery gives %q", q, key, got, want)
		}
	})
}

package auth

import (
	"strings"
	"testing"
)

func TestModeFollowsEchoAndSecret(t *testing.T) {
	for _, tc := range []struct {
		echo   bool
		secret string
		want   string
	}{
		{false, "", ModeDevelopment},
		{false, testSecret, ModeJWT},
		{true, "", ModeEcho},
		{true, testSecret, ModeEcho},
	} {
		if got := Mode(tc.echo, tc.secret); got != tc.want {
			t.Errorf("Mode(%v, %q) = %q, want %q", tc.echo, tc.secret, got, tc.want)
		}
	}
}

func TestLoopbackListeners(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true,
		"127.1.2.3:0":    true,
		"localhost:0":    true,
		"[::1]:0":        true,
		":0":             false,
		"0.0.0.0:0":      false,
		"[::]:0":         false,
		"192.0.2.1:0":    false,
		"example.com:80": false,
		"127.0.0.1":      false, // no port: not an address this checks
		"":               false,
	} {
		if got := Loopback(addr); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestDevelopmentModeOffLoopbackIsRefused(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.0.2.1:0"} {
		err := Check(ModeDevelopment, addr, false, "")
		if err == nil || !strings.Contains(err.Error(), "--jwt-secret") || !strings.Contains(err.Error(), "--insecure") ||
			!strings.Contains(err.Error(), "127.0.0.1") || !strings.Contains(err.Error(), addr) {
			t.Fatalf("%s without a secret: %v, want a refusal naming the fixes", addr, err)
		}
	}
	for _, tc := range []struct {
		mode, addr string
		insecure   bool
		secret     string
	}{
		{ModeJWT, "0.0.0.0:0", false, testSecret},
		{ModeDevelopment, "0.0.0.0:0", true, ""},
		{ModeEcho, "0.0.0.0:0", false, ""},
		{ModeDevelopment, "127.0.0.1:0", false, ""},
		{ModeDevelopment, "localhost:0", false, ""},
		{ModeDevelopment, "[::1]:0", false, ""},
		{ModeJWT, "127.0.0.1:0", false, strings.Repeat("k", MinSecret)},
	} {
		if err := Check(tc.mode, tc.addr, tc.insecure, tc.secret); err != nil {
			t.Errorf("%+v: %v", tc, err)
		}
	}
}

func TestShortJWTSecretIsRefused(t *testing.T) {
	err := Check(ModeJWT, "127.0.0.1:0", false, "s3cret")
	if err == nil || !strings.Contains(err.Error(), "32") || !strings.Contains(err.Error(), "6 bytes") {
		t.Fatalf("a 6-byte secret: %v", err)
	}
	if err := Check(ModeJWT, "127.0.0.1:0", false, strings.Repeat("k", MinSecret-1)); err == nil {
		t.Fatalf("a secret one byte short passes")
	}
	// Both problems at once, each named.
	err = Check(ModeDevelopment, "0.0.0.0:0", false, "s3cret")
	if err == nil || !strings.Contains(err.Error(), "--insecure") || !strings.Contains(err.Error(), "RFC 7518") {
		t.Fatalf("two problems: %v, want both", err)
	}
}

func TestWarningSaysDevelopmentModeOnly(t *testing.T) {
	if w := Warning(ModeDevelopment, "127.0.0.1:8080"); !strings.HasPrefix(w, "DEVELOPMENT MODE:") || !strings.Contains(w, "127.0.0.1:8080") {
		t.Errorf("loopback: %q", w)
	}
	if w := Warning(ModeDevelopment, "0.0.0.0:8080"); !strings.Contains(w, "NON-LOOPBACK") || !strings.Contains(w, "0.0.0.0:8080") {
		t.Errorf("--insecure: %q", w)
	}
	for _, m := range []string{ModeJWT, ModeEcho} {
		if w := Warning(m, "0.0.0.0:8080"); w != "" {
			t.Errorf("%s: %q, want nothing", m, w)
		}
	}
}

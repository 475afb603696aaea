package auth

import (
	"net/url"
	"strings"
	"testing"
)

func TestRedactURLHidesPasswordsAndQueryValues(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://hooks.example.com/wspush", "https://hooks.example.com/wspush"},
		{"https://u:hunter2@hooks.example.com/x", "https://u:redacted@hooks.example.com/x"},
		{"https://u@hooks.example.com/x", "https://u@hooks.example.com/x"}, // a user name is no secret
		{"https://h/x?token=QUERY-SECRET&b=2", "https://h/x?b=redacted&token=redacted"},
		{"redis://:pw@127.0.0.1:6379/0", "redis://:redacted@127.0.0.1:6379/0"},
		{"redis://user@10.0.0.5:6379/0?dial_timeout=1s", "redis://user@10.0.0.5:6379/0?dial_timeout=redacted"},
		{"redis://u:hunter2%zzPASS@h:6379/0", "redis://<redacted>"}, // does not parse
		{"no scheme %zz", "<redacted>"},
	} {
		got := RedactURL(tc.in)
		if got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "hunter2") || strings.Contains(got, "QUERY-SECRET") || strings.Contains(got, "pw@") {
			t.Errorf("RedactURL(%q) = %q keeps a secret", tc.in, got)
		}
	}
}

func TestScrubURLSecretRemovesThePasswordRawAndDecoded(t *testing.T) {
	raw := "redis://u:hunter2%21PASS@h:port/0"
	//lint:ignore SA1007 the URL is invalid on purpose: its parser's error is what is scrubbed
	_, err := url.Parse(raw)
	if err == nil || !strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("the parser's error %v no longer repeats its input: the test needs another URL", err)
	}
	got := ScrubURLSecret(err.Error()+" (hunter2!PASS)", raw)
	if strings.Contains(got, "hunter2") || !strings.Contains(got, "redacted") {
		t.Fatalf("scrubbed %q", got)
	}
	for _, tc := range []struct{ msg, raw string }{
		{"nothing to hide in redis://h:6379/0", "redis://h:6379/0"},   // no userinfo
		{"user only redis://u@h:6379/0", "redis://u@h:6379/0"},        // no password
		{"empty password redis://u:@h:6379/0", "redis://u:@h:6379/0"}, // nothing to scrub
		{"not a URL", "hunter2"},                                      // no scheme
	} {
		if got := ScrubURLSecret(tc.msg, tc.raw); got != tc.msg {
			t.Errorf("ScrubURLSecret(%q, %q) = %q, want it unchanged", tc.msg, tc.raw, got)
		}
	}
}

func TestLoopbackHostNamesThisMachineOnly(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost":        true,
		"LocalHost":        true,
		"127.0.0.1":        true,
		"127.9.9.9":        true,
		"::1":              true,
		"[::1]":            true,
		"::ffff:127.0.0.1": true,
		"rebind.example":   false,
		"localhost.evil":   false,
		"10.0.0.1":         false,
		"0.0.0.0":          false,
		"":                 false,
	} {
		if got := LoopbackHost(host); got != want {
			t.Errorf("LoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}

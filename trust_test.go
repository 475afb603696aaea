package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// Issue 13 §2: an address other hosts reach, without a JWT secret, is
// refused, by serve and by --check-config alike, with the fix named.
func TestDevelopmentModeOffLoopbackExitsTwoNamingTheFix(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--check-config", "--addr", "0.0.0.0:19080"},
		{"serve", "--check-config", "--addr", ":8080"},
		{"serve", "--addr", "0.0.0.0:0", "--api-addr", ""},
	} {
		out, err := command(t, args...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("%v: exit %v, want 2; output %s", args, err, out)
		}
		for _, fix := range []string{"--jwt-secret", "--insecure", "--addr 127.0.0.1:8080"} {
			if !strings.Contains(string(out), fix) {
				t.Errorf("%v: the message does not name %s: %s", args, fix, out)
			}
		}
	}
	for _, args := range [][]string{
		{"serve", "--check-config"}, // the default listens on loopback
		{"serve", "--check-config", "--addr", ":8080", "--insecure"},
		{"serve", "--check-config", "--addr", ":8080", "--jwt-secret", strings.Repeat("k", 32)},
	} {
		if out, err := command(t, args...).CombinedOutput(); err != nil {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
	out, _ := command(t, "serve", "--check-config").Output()
	if !strings.Contains(string(out), `addr: "127.0.0.1:8080"`) {
		t.Errorf("the default addr is not loopback:\n%s", out)
	}
}

func TestShortJWTSecretExitsTwo(t *testing.T) {
	out, err := command(t, "serve", "--check-config", "--jwt-secret", "s3cret").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "at least 32") {
		t.Fatalf("exit %v, output %s", err, out)
	}
}

// Issue 13 §6: the webhook URL's password and query are secrets too.
func TestCheckConfigHidesTheWebhookSecrets(t *testing.T) {
	out, err := command(t, "serve", "--check-config", "--webhook", "https://user:PASS@backend.internal/hook?token=QSECRET",
		"--redis", "redis://:RPASS@127.0.0.1:6379/0", "--trusted-proxies", "10.0.0.0/8, 192.0.2.7").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, secret := range []string{"PASS", "QSECRET", "RPASS"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("check-config printed %s:\n%s", secret, out)
		}
	}
	for _, want := range []string{`webhook: "https://user:redacted@backend.internal/hook?token=redacted"`, `trusted-proxies: "10.0.0.0/8,192.0.2.7/32"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	if !strings.Contains(string(out), "# warning: the webhook https://user:redacted@backend.internal/hook?token=redacted has no --webhook-secret") {
		t.Errorf("no warning about the unsigned webhook:\n%s", out)
	}
	out, err = command(t, "serve", "--check-config", "--redis", "redis://u:RPASS@host:notaport/0").CombinedOutput()
	if err == nil || strings.Contains(string(out), "RPASS") {
		t.Fatalf("a bad --redis: %v, output %s", err, out)
	}
}

package main

import (
	"errors"
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/wspush/wspush/server"
)

func TestCheckConfigPrintsTheEffectiveConfigAndExits(t *testing.T) {
	path := writeConfig(t, "ping-interval: 7s\napi-key: sekrit\nwebhook: http://127.0.0.1:9/hook\n")
	cmd := command(t, "serve", "--config", path, "--check-config", "--max-conns", "1000")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("check-config: %v\n%s", err, out)
	}
	for _, want := range []string{`ping-interval: "7s"`, "max-conns: 1000", `api-key: "<redacted>"`,
		`webhook: "http://127.0.0.1:9/hook"`, `webhook-events: ["publish", "send", "connect", "disconnect", "offline"]`, "loops: "} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "sekrit") {
		t.Error("check-config printed the API key")
	}
	// What it prints is a config file that --config accepts.
	again := strings.ReplaceAll(string(out), `"<redacted>"`, `"x"`)
	if _, err := parseServe([]string{"--config", writeConfig(t, again)}, func(string) string { return "" }); err != nil {
		t.Errorf("the printed configuration does not read back: %v", err)
	}

	for _, args := range [][]string{
		{"--config", writeConfig(t, "webhook-events: [typing]\nwebhook: http://x/\n")},
		{"--config", writeConfig(t, "api-addr: 0.0.0.0:8081\n")},
		{"--config", writeConfig(t, "nope: 1\n")},
	} {
		out, err := command(t, append([]string{"serve", "--check-config"}, args...)...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%v: exit %v, want 2; output %s", args, err, out)
		}
	}
}

func TestCheckConfigHidesTheRedisPassword(t *testing.T) {
	for in, want := range map[string]string{
		"redis://:s3cret@127.0.0.1:6379/0":    "redis://:redacted@127.0.0.1:6379/0",
		"redis://app:s3cret@redis.internal/2": "redis://app:redacted@redis.internal/2",
		"redis://127.0.0.1:6379/0":            "redis://127.0.0.1:6379/0",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
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

func TestExampleConfigChecks(t *testing.T) {
	out, err := command(t, "serve", "--config", "docs/deploy/wspush.yaml", "--check-config").CombinedOutput()
	if err != nil {
		t.Fatalf("docs/deploy/wspush.yaml: %v\n%s", err, out)
	}
}

// --check-config builds no server, yet prints the connection cap a server
// derives, and every value in a form that reads back to the same
// configuration.
func TestCheckConfigReadsBackToTheSameConfig(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"--api-addr", ""},
		{"--max-conns", "1000", "--max-message", "1MiB", "--history-max-bytes", "1536", "--idle-timeout", "90m", "--send-buffer", "-1",
			"--origins", "https://a.example.com,https://b.example.com", "--trusted-proxies", "", "--webhook", "http://127.0.0.1:9/hook",
			"--webhook-events", "connect", "--api-key", "k", "--jwt-secret", strings.Repeat("s", 32)},
	} {
		f, err := parseServe(args, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		if err := printConfig(&out, f, nil); err != nil {
			t.Fatal(err)
		}
		maxConns := server.New(f.cfg).Config().MaxConns
		if !strings.Contains(out.String(), fmt.Sprintf("\nmax-conns: %d\n", maxConns)) {
			t.Errorf("%v: the server would run with max-conns %d; printed:\n%s", args, maxConns, out.String())
		}
		back, err := parseServe([]string{"--config", writeConfig(t, out.String())}, func(string) string { return "" })
		if err != nil {
			t.Fatalf("%v: the printed configuration does not read back: %v\n%s", args, err, out.String())
		}
		// What does not read back as it was: the secrets, redacted, and
		// the derived cap, now explicit.
		back.cfg.APIKey, back.cfg.JWTSecret = f.cfg.APIKey, f.cfg.JWTSecret
		if f.cfg.MaxConns == 0 {
			back.cfg.MaxConns = 0
		}
		if !reflect.DeepEqual(back.cfg, f.cfg) {
			t.Errorf("%v: read back as\n%+v\nwant\n%+v", args, back.cfg, f.cfg)
		}
	}
}

// Issue 20 §1: a Sentinel URL checks, and neither of its passwords, from
// the URL, the flags, the environment or the file, is printed.
func TestCheckConfigTakesSentinelAndHidesItsPasswords(t *testing.T) {
	path := writeConfig(t, "redis-sentinel-password: FILESPW\n")
	cmd := command(t, "serve", "--check-config", "--config", path,
		"--redis", "redis+sentinel://:URLPW@127.0.0.1:26379,127.0.0.1:26380/mymaster?db=3")
	cmd.Env = append(cmd.Environ(), "WSPUSH_REDIS_PASSWORD=URLPW")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, secret := range []string{"URLPW", "FILESPW"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("check-config printed %s:\n%s", secret, out)
		}
	}
	for _, want := range []string{`redis: "redis+sentinel://:redacted@127.0.0.1:26379,127.0.0.1:26380/mymaster?db=redacted"`,
		`redis-password: "<redacted>"`, `redis-sentinel-password: "<redacted>"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "has no password") {
		t.Errorf("a warning about a missing password, though it has one:\n%s", out)
	}
	for url, why := range map[string]string{
		"redis+sentinel://127.0.0.1:26379":                   "primary's name",
		"redis+sentinel://127.0.0.1/mymaster":                `Sentinel address "127.0.0.1"`,
		"redis+sentinel://:PW@127.0.0.1:26379/m?db=x":        "db: want a database number",
		"redis+sentinel://:PW@127.0.0.1:26379/m?password=PW": `unknown parameter "password"`,
	} {
		out, err := command(t, "serve", "--check-config", "--redis", url).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), why) || strings.Contains(string(out), "PW@") {
			t.Errorf("%s: exit %v, want 2 saying %q; output %s", url, err, why, out)
		}
	}
	out, err = command(t, "serve", "--check-config", "--redis-password", "x").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "need --redis") {
		t.Errorf("--redis-password without --redis: %v, output %s", err, out)
	}
}

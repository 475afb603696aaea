package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeConfig writes a wspush.yaml with body into a temporary directory.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wspush.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigFileUnderEnvironmentUnderFlags(t *testing.T) {
	path := writeConfig(t, `
addr: "127.0.0.1:9000"
api-addr: 127.0.0.1:9001
ping-interval: 7s
idle-timeout: 20s
max-message: 4096
origins: ["https://a.example.com", "https://*.b.example.com"]
webhook: http://127.0.0.1:9/hook
webhook-events: [publish, connect]
echo: false
`)
	env := map[string]string{"WSPUSH_IDLE_TIMEOUT": "30s", "WSPUSH_MAX_MESSAGE": "8192"}
	f, err := parseServe([]string{"--config", path, "--max-message", "1024"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	c := f.cfg
	if c.Addr != "127.0.0.1:9000" || c.APIAddr != "127.0.0.1:9001" || c.PingInterval != 7*time.Second {
		t.Errorf("file values not applied: %+v", c)
	}
	if c.IdleTimeout != 30*time.Second {
		t.Errorf("idle timeout %v, want the environment's 30s over the file's", c.IdleTimeout)
	}
	if c.MaxMessage != 1024 {
		t.Errorf("max message %d, want the flag's 1024 over the environment and the file", c.MaxMessage)
	}
	if want := []string{"https://a.example.com", "https://*.b.example.com"}; !reflect.DeepEqual(c.Origins, want) {
		t.Errorf("origins %q, want %q", c.Origins, want)
	}
	if c.Webhook.URL != "http://127.0.0.1:9/hook" || !reflect.DeepEqual(c.Webhook.Events, []string{"publish", "connect"}) {
		t.Errorf("webhook %+v", c.Webhook)
	}
}

func TestConfigFileFromTheEnvironment(t *testing.T) {
	path := writeConfig(t, "ping-interval: 9s\n")
	f, err := parseServe([]string{"--config=" + path}, func(string) string { return "" })
	if err != nil || f.cfg.PingInterval != 9*time.Second {
		t.Fatalf("--config=PATH: %v %v", err, f)
	}
	f, err = parseServe(nil, func(k string) string {
		if k == "WSPUSH_CONFIG" {
			return path
		}
		return ""
	})
	if err != nil || f.cfg.PingInterval != 9*time.Second {
		t.Fatalf("WSPUSH_CONFIG: %v %v", err, f)
	}
}

func TestConfigFileErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"ping-intervall: 5s\n", `unknown key "ping-intervall"`},
		{"ping-interval: often\n", "ping-interval"},
		{"webhook: {url: x}\n", "webhook"},
		{"addr: [\n", "yaml"},
		{"config: other.yaml\n", `unknown key "config"`},
	} {
		_, err := parseServe([]string{"--config", writeConfig(t, tc.body)}, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one mentioning %s", tc.body, err, tc.want)
		}
	}
	if _, err := parseServe([]string{"--config", "/nonexistent/wspush.yaml"}, func(string) string { return "" }); err == nil {
		t.Error("a missing config file was accepted")
	}
}

func TestConfigFileUnknownKeyNamesTheNearestFlag(t *testing.T) {
	for body, want := range map[string]string{
		"ping-intervall: 5s\n":   `unknown key "ping-intervall": did you mean ping-interval?`,
		"max_message: 64KiB\n":   `unknown key "max_message": did you mean max-message?`,
		"colour: blue\n":         `unknown key "colour": the keys are serve's flag names`,
		"check-config: true\n":   `unknown key "check-config": the keys are serve's flag names`,
		"max-message: 64KB\n":    `max-message: "64KB": write KiB, MiB or GiB`,
		"max-message: [64KiB]\n": "", // a list of one is its one value
	} {
		_, err := parseServe([]string{"--config", writeConfig(t, body)}, func(string) string { return "" })
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", body, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: %v, want an error with %q", body, err, want)
		}
	}
}

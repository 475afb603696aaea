package main

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wspush/wspush/server"
)

func TestFlagsWinOverTheEnvironment(t *testing.T) {
	env := map[string]string{"WSPUSH_MAX_CONNS": "77", "WSPUSH_ADDR": "127.0.0.1:1", "WSPUSH_ECHO": "true"}
	f, err := parseServe([]string{"--addr", "127.0.0.1:2"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if f.cfg.Addr != "127.0.0.1:2" || f.cfg.MaxConns != 77 || !f.cfg.Echo {
		t.Fatalf("addr %q max-conns %d echo %v", f.cfg.Addr, f.cfg.MaxConns, f.cfg.Echo)
	}
}

func TestBadEnvironmentValueIsAnError(t *testing.T) {
	_, err := parseServe(nil, func(k string) string {
		if k == "WSPUSH_IDLE_TIMEOUT" {
			return "soon"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "WSPUSH_IDLE_TIMEOUT") {
		t.Fatalf("err %v, want one naming WSPUSH_IDLE_TIMEOUT", err)
	}
}

func TestCompressionFlags(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		env       map[string]string
		off       bool
		threshold int
		line      string
	}{
		{"default: on from 128 bytes", nil, nil, false, 128, "permessage-deflate, no context takeover, from 128 bytes"},
		{"--compression=false", []string{"--compression=false"}, nil, true, 128, "off"},
		{"--compression alone keeps it on", []string{"--compression"}, nil, false, 128, "permessage-deflate, no context takeover, from 128 bytes"},
		{"environment", nil, map[string]string{"WSPUSH_COMPRESSION": "false"}, true, 128, "off"},
		{"threshold", []string{"--compression-threshold", "512"}, nil, false, 512, "permessage-deflate, no context takeover, from 512 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseServe(tc.args, func(k string) string { return tc.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if f.cfg.NoCompression != tc.off || f.cfg.CompressionThreshold != tc.threshold {
				t.Fatalf("NoCompression %v, threshold %d; want %v, %d", f.cfg.NoCompression, f.cfg.CompressionThreshold, tc.off, tc.threshold)
			}
			if got := compressionInForce(f.cfg); got != tc.line {
				t.Fatalf("start line says %q, want %q", got, tc.line)
			}
		})
	}
	if _, err := parseServe([]string{"--compression=maybe"}, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "compression") {
		t.Fatalf("--compression=maybe: %v", err)
	}
}

// The order: a flag over the environment over the --config file
// over the built-in default, for sizes written with units in each.
func TestPrecedenceFlagOverEnvironmentOverFile(t *testing.T) {
	path := writeConfig(t, `
max-message: 4KiB
max-pending: 1MiB
history-max-bytes: 1GiB
send-buffer: -1
idle-timeout: 2m
ping-interval: 10s
`)
	env := map[string]string{"WSPUSH_MAX_MESSAGE": "8 KiB", "WSPUSH_MAX_PENDING": "2MiB", "WSPUSH_IDLE_TIMEOUT": "3m"}
	f, err := parseServe([]string{"--config", path, "--max-message=16KiB", "--idle-timeout", "4m"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	c, d := f.cfg, server.Defaults()
	for _, tc := range []struct {
		name      string
		got, want int64
	}{
		{"max-message: flag over env and file", int64(c.MaxMessage), 16 << 10},
		{"max-pending: env over file", int64(c.MaxPending), 2 << 20},
		{"history-max-bytes: file over default", c.HistoryMaxBytes, 1 << 30},
		{"send-buffer: -1 from the file", int64(c.SendBuffer), -1},
		{"webhook-queue-bytes: the default", int64(c.Webhook.QueueBytes), int64(d.Webhook.QueueBytes)},
		{"idle-timeout: flag over env and file", int64(c.IdleTimeout), int64(4 * time.Minute)},
		{"ping-interval: file over default", int64(c.PingInterval), int64(10 * time.Second)},
		{"handshake-timeout: the default", int64(c.HandshakeTimeout), int64(d.HandshakeTimeout)},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

// Every flag's default is server.Defaults()'s, and a server started from
// those defaults is the one a zero Config starts: the command line adds
// no default of its own beyond the API's address.
func TestFlagDefaultsAreTheServersDefaults(t *testing.T) {
	f, err := parseServe(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	want := server.Defaults()
	want.APIAddr = server.DefaultAPIAddr
	if !reflect.DeepEqual(f.cfg, want) {
		t.Errorf("flag defaults\n%+v\nserver.Defaults\n%+v", f.cfg, want)
	}
	if f.cfg.MaxConns != 0 || f.cfg.APIMaxConns != 0 {
		t.Errorf("max-conns %d, api-max-conns %d: want 0, derived at start", f.cfg.MaxConns, f.cfg.APIMaxConns)
	}

	zero := server.New(server.Config{}).Config()
	defs := server.New(server.Defaults()).Config()
	// What Defaults spells out and New leaves to the parts (the engine,
	// the API, the webhook), which hold the same defaults for zero.
	defs.SendBuffer, defs.MaxUserConns, defs.ClientSends = zero.SendBuffer, zero.MaxUserConns, zero.ClientSends
	defs.APIReadTimeout, defs.Webhook = zero.APIReadTimeout, zero.Webhook
	if got, want := (proxiesValue{&defs.TrustedProxies}).String(), "127.0.0.0/8,::1/128"; got != want {
		t.Errorf("trusted proxies %s, want %s", got, want)
	}
	defs.TrustedProxies, defs.Logger, zero.Logger = nil, nil, nil
	// The descriptor budget counts the loops that run, whether Loops was
	// zero or set: both derive the same cap.
	if zero.MaxConns != defs.MaxConns {
		t.Errorf("derived max-conns %d from a zero Config, %d from Defaults", zero.MaxConns, defs.MaxConns)
	}
	if !reflect.DeepEqual(zero, defs) {
		t.Errorf("New(Config{})\n%+v\nNew(Defaults())\n%+v", zero, defs)
	}
}

func TestEnvironmentTypoIsWarnedOf(t *testing.T) {
	f := newServeFlags()
	got := f.envTypos([]string{"WSPUSH_MAX_CONN=5", "WSPUSH_MAX_CONNS=6", "WSPUSH_IDLE_TIMOUT=1m", "WSPUSH_CONFIG=x.yaml",
		"WSPUSH_SKIP_BROWSER=1", "WSPUSH_TEST_MAIN=1", "WSPUSH_MEM_CONNS=9", "HOME=/root", "WSPUSH_JWT_SECRET"})
	want := []string{
		"WSPUSH_MAX_CONN sets no flag: did you mean WSPUSH_MAX_CONNS? (wspush serve -h)",
		"WSPUSH_IDLE_TIMOUT sets no flag: did you mean WSPUSH_IDLE_TIMEOUT? (wspush serve -h)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings %q, want %q", got, want)
	}
	cmd := command(t, "serve", "--check-config")
	cmd.Env = append(cmd.Env, "WSPUSH_MAX_RAT=5")
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), "\n# warning: WSPUSH_MAX_RAT sets no flag: did you mean WSPUSH_MAX_RATE?") {
		t.Errorf("check-config: %v\n%s", err, out)
	}
}

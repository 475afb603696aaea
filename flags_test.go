package main

import (
	"strings"
	"testing"
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

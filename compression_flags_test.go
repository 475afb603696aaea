package main

import (
	"strings"
	"testing"
)

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

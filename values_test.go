package main

import (
	"strings"
	"testing"
	"time"
)

func TestSizeTakesUnitsAndPlainBytes(t *testing.T) {
	for in, want := range map[string]int64{
		"65536":   65536,
		"64KiB":   64 << 10,
		"64kib":   64 << 10,
		"64 KiB":  64 << 10,
		" 1MiB ":  1 << 20,
		"256MiB":  256 << 20,
		"1GiB":    1 << 30,
		"100B":    100,
		"0":       0,
		"-1":      -1,
		"8191GiB": 8191 << 30,
	} {
		var n int64
		if err := (sizeValue[int64]{&n}).Set(in); err != nil || n != want {
			t.Errorf("Set(%q): %d, %v; want %d", in, n, err, want)
		}
	}
}

func TestSizeRefusesWhatItCannotReadExactly(t *testing.T) {
	for in, want := range map[string]string{
		"64KB":                "KiB",
		"1M":                  "MiB",
		"1.5MiB":              "whole number",
		"lots":                "byte count",
		"":                    "byte count",
		"KiB":                 "byte count",
		"-1KiB":               "byte count",
		"64 KiB/s":            "byte count",
		"9999999999999GiB":    "too large",
		"9223372036854775808": "too large",
	} {
		n := int64(7)
		err := (sizeValue[int64]{&n}).Set(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Set(%q): %v, want an error saying %q", in, err, want)
		}
		if n != 7 {
			t.Errorf("Set(%q) changed the value to %d", in, n)
		}
	}
}

func TestSizePrintsInTheLargestUnitThatDividesIt(t *testing.T) {
	for n, want := range map[int64]string{
		64 << 10:   "64KiB",
		1 << 20:    "1MiB",
		256 << 20:  "256MiB",
		3 << 30:    "3GiB",
		1536:       "1536",
		1025 << 10: "1025KiB",
		128:        "128",
		0:          "0",
		-1:         "-1",
	} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
		back, err := parseSize(formatSize(n))
		if err != nil || back != n {
			t.Errorf("%q reads back as %d, %v; want %d", formatSize(n), back, err, n)
		}
	}
}

func TestDurationPrintsWithoutZeroUnits(t *testing.T) {
	for d, want := range map[time.Duration]string{
		25 * time.Second:          "25s",
		60 * time.Second:          "1m",
		10 * time.Minute:          "10m",
		90 * time.Minute:          "1h30m",
		time.Hour:                 "1h",
		time.Hour + 5*time.Second: "1h0m5s",
		100 * time.Millisecond:    "100ms",
		0:                         "0s",
	} {
		v := durationValue{&d}
		if got := v.String(); got != want {
			t.Errorf("%v prints as %q, want %q", time.Duration(d), got, want)
		}
		var back time.Duration
		if err := (durationValue{&back}).Set(want); err != nil || back != d {
			t.Errorf("%q reads back as %v, %v", want, back, err)
		}
	}
	var d time.Duration
	if err := (durationValue{&d}).Set("soon"); err == nil || !strings.Contains(err.Error(), "25s") {
		t.Errorf("Set(soon): %v, want an error with an example", err)
	}
}

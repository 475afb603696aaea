package main

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/wspush/wspush/server"
)

// The flag.Value types of serve's flags. Each writes into a field of
// server.Config (or of serveFlags) and prints its value the way a person
// writes it, which is also a way Set reads it back: --check-config prints
// them as a file that --config reads. The flag, its WSPUSH_ variable and
// its key in the --config file all go through the same Set.

// sizeValue is a byte count: plain bytes (65536) or a whole number of a
// binary unit (64KiB, 1MiB, 256 MiB, 1GiB). It prints in the largest unit
// that divides it.
type sizeValue[T int | int64] struct{ p *T }

// Binary units, the only ones a size takes: 1 KiB is 1024 bytes.
var sizeUnits = []struct {
	name  string
	shift uint
}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}}

var (
	errSizeSyntax = errors.New("want a byte count, or a whole number of KiB, MiB or GiB (64KiB, 1MiB)")
	errSizeRange  = errors.New("too large")
)

func (v sizeValue[T]) String() string {
	if v.p == nil {
		return "0"
	}
	return formatSize(int64(*v.p))
}

func (v sizeValue[T]) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	if int64(T(n)) != n {
		return errSizeRange
	}
	*v.p = T(n)
	return nil
}

// formatSize writes n bytes as a person would: 64KiB, 1MiB, 256MiB; a
// count that no unit divides stays plain bytes.
func formatSize(n int64) string {
	if n > 0 {
		for _, u := range sizeUnits {
			if n%(1<<u.shift) == 0 {
				return strconv.FormatInt(n>>u.shift, 10) + u.name
			}
		}
	}
	return strconv.FormatInt(n, 10)
}

// parseSize reads what formatSize writes, a space before the unit
// allowed, the unit's case ignored. Plain bytes may be negative, for the
// flags where a negative value means something (--send-buffer -1).
// Decimal units (KB, MB) are refused rather than guessed at.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := len(s) - len(strings.TrimLeft(s, "0123456789"))
	if strings.HasPrefix(s, "-") {
		i = 1 + len(s[1:]) - len(strings.TrimLeft(s[1:], "0123456789"))
	}
	num, unit := s[:i], strings.TrimSpace(s[i:])
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, errSizeRange
		}
		return 0, errSizeSyntax
	}
	if unit == "" || strings.EqualFold(unit, "B") {
		return n, nil
	}
	for _, u := range sizeUnits {
		if !strings.EqualFold(unit, u.name) {
			continue
		}
		if n < 0 {
			return 0, errSizeSyntax
		}
		if n > (1<<63-1)>>u.shift {
			return 0, errSizeRange
		}
		return n << u.shift, nil
	}
	switch strings.ToUpper(unit) {
	case "K", "KB", "M", "MB", "G", "GB":
		return 0, errors.New("write KiB, MiB or GiB (1 KiB = 1024 bytes)")
	}
	return 0, errSizeSyntax
}

// durationValue is a time.Duration (500ms, 25s, 10m, 1h30m) that prints
// without the zero units time.Duration.String adds: 10m, not 10m0s.
type durationValue struct{ p *time.Duration }

func (v durationValue) String() string {
	if v.p == nil {
		return "0s"
	}
	return formatDuration(*v.p)
}

func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return errors.New("want a duration such as 500ms, 25s, 10m or 1h")
	}
	*v.p = d
	return nil
}

// formatDuration is d.String() without trailing zero units: 1m, 1h30m.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// intValue is a count.
type intValue struct{ p *int }

func (v intValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.Itoa(*v.p)
}

func (v intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return errors.New("want a whole number")
	}
	*v.p = n
	return nil
}

// stringValue is text, taken as it is.
type stringValue struct{ p *string }

func (v stringValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

func (v stringValue) Set(s string) error { *v.p = s; return nil }

// boolValue is a switch: --echo alone means true.
type boolValue struct{ p *bool }

func (v boolValue) IsBoolFlag() bool { return true }

func (v boolValue) String() string { return strconv.FormatBool(v.p != nil && *v.p) }

func (v boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	*v.p = b
	return nil
}

// notFlag is a boolean flag stored inverted, for a Config field whose zero
// value means on (--compression sets NoCompression).
type notFlag struct{ p *bool }

func (f notFlag) IsBoolFlag() bool { return true }

func (f notFlag) String() string {
	if f.p == nil {
		return "true"
	}
	return strconv.FormatBool(!*f.p)
}

func (f notFlag) Set(v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return errors.New("want true or false")
	}
	*f.p = !b
	return nil
}

// listValue is a comma-separated list; a value replaces the list, so that
// the command line replaces what the file or the environment said.
type listValue struct{ p *[]string }

func (v listValue) String() string {
	if v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}

func (v listValue) Set(s string) error {
	var l []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			l = append(l, e)
		}
	}
	*v.p = l
	return nil
}

// proxiesValue is --trusted-proxies: CIDRs or addresses, comma-separated.
// An empty value is an empty list, which trusts no one.
type proxiesValue struct{ p *[]netip.Prefix }

func (v proxiesValue) String() string {
	if v.p == nil {
		return ""
	}
	s := make([]string, len(*v.p))
	for i, p := range *v.p {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func (v proxiesValue) Set(s string) error {
	p, err := server.ParseProxies(s)
	if err != nil {
		return err
	}
	*v.p = p
	return nil
}

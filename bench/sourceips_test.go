package bench

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
)

func TestParseSourceIPs(t *testing.T) {
	ips := func(s ...string) []netip.Addr {
		var out []netip.Addr
		for _, a := range s {
			out = append(out, netip.MustParseAddr(a))
		}
		return out
	}
	for _, tc := range []struct {
		in   string
		want []netip.Addr
	}{
		{in: "", want: nil},
		{in: "127.0.0.1", want: ips("127.0.0.1")},
		{in: "127.0.0.1-127.0.0.3", want: ips("127.0.0.1", "127.0.0.2", "127.0.0.3")},
		{in: " 127.0.0.9 - 127.0.0.9 ", want: ips("127.0.0.9")},
		{in: "127.0.0.255-127.0.1.1", want: ips("127.0.0.255", "127.0.1.0", "127.0.1.1")},
		{in: "127.0.0.1,127.0.0.5-127.0.0.6", want: ips("127.0.0.1", "127.0.0.5", "127.0.0.6")},
		{in: "::ffff:127.0.0.1", want: ips("127.0.0.1")},
		{in: "::1", want: ips("::1")},
	} {
		got, err := ParseSourceIPs(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseSourceIPsRejects(t *testing.T) {
	for _, in := range []string{
		"127.0.0.300",
		"localhost",
		"127.0.0.5-127.0.0.1", // backwards
		"127.0.0.1-::1",       // two families
		"127.0.0.1-",
		"127.0.0.1,,127.0.0.2",
		"fe80::1%eth0",
		"127.0.0.0-127.255.255.255", // far too many
	} {
		if got, err := ParseSourceIPs(in); !errors.Is(err, ErrSourceIPs) {
			t.Errorf("%q = %v, %v; want ErrSourceIPs", in, got, err)
		}
	}
}

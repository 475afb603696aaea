package bench

import (
	"fmt"
	"net/netip"
	"strings"
)

// maxSourceIPs bounds the addresses one --source-ips may name, so that a
// typo such as 127.0.0.1-127.255.255.255 fails instead of allocating.
const maxSourceIPs = 4096

// ParseSourceIPs parses a comma-separated list of addresses and inclusive
// ranges, such as "127.0.0.1-127.0.0.20,127.0.1.1". Both ends of a range
// belong to one family and the first is not after the last. An empty string
// gives no addresses: the kernel then picks the source.
func ParseSourceIPs(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := netip.ParseAddr(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrSourceIPs, part, err)
		}
		last := first
		if isRange {
			if last, err = netip.ParseAddr(strings.TrimSpace(hi)); err != nil {
				return nil, fmt.Errorf("%w: %q: %v", ErrSourceIPs, part, err)
			}
		}
		if first.Zone() != "" || last.Zone() != "" {
			return nil, fmt.Errorf("%w: %q: zones are not supported", ErrSourceIPs, part)
		}
		first, last = first.Unmap(), last.Unmap()
		if first.Is4() != last.Is4() {
			return nil, fmt.Errorf("%w: %q: mixes IPv4 and IPv6", ErrSourceIPs, part)
		}
		if last.Less(first) {
			return nil, fmt.Errorf("%w: %q: the range ends before it starts", ErrSourceIPs, part)
		}
		for a := first; ; a = a.Next() {
			if len(out) == maxSourceIPs {
				return nil, fmt.Errorf("%w: more than %d addresses", ErrSourceIPs, maxSourceIPs)
			}
			out = append(out, a)
			if a == last {
				break
			}
		}
	}
	return out, nil
}

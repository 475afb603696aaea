package auth

import (
	"net/netip"
	"strings"
)

// ParseProxies parses a comma-separated list of CIDRs or addresses (an
// address is a prefix of its full length), for --trusted-proxies. An empty
// string is an empty, non-nil list: no proxy is trusted.
func ParseProxies(v string) ([]netip.Prefix, error) {
	list := []netip.Prefix{}
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			list = append(list, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, err
		}
		list = append(list, netip.PrefixFrom(a, a.BitLen()))
	}
	return list, nil
}

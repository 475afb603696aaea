package engine

import (
	"bytes"
	"net"
	"net/netip"
	"slices"
)

// loopbackProxies are the TrustedProxies of a zero Config: a proxy on the
// same host, as docs/deploy.md sets nginx up.
var loopbackProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// LoopbackProxies returns the proxies a nil Config.TrustedProxies trusts,
// in a slice of the caller's.
func LoopbackProxies() []netip.Prefix { return slices.Clone(loopbackProxies) }

// proxies are the peers whose forwarding headers are believed.
func (s *Engine) proxies() []netip.Prefix {
	if s.cfg.TrustedProxies == nil {
		return loopbackProxies
	}
	return s.cfg.TrustedProxies
}

// trusted reports whether a is one of the trusted proxies.
func (s *Engine) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.proxies() {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the client's own address as the handshake shows it, for the
// webhook's connect event: "" when the peer is not a trusted proxy, whose
// headers anyone could have written. Behind trusted proxies it is the
// right-most address of X-Forwarded-For that is not a trusted proxy
// itself (each proxy appends the peer it saw, so the entries to its left
// are the client's to write), or the left-most if all are; without
// X-Forwarded-For it is X-Real-IP.
func (s *Engine) clientIP(remote net.Addr, hs *handshake) string {
	peer, ok := addrOf(remote)
	if !ok || !s.trusted(peer) {
		return ""
	}
	if len(hs.xff) > 0 {
		hops := bytes.Split(hs.xff, []byte{','})
		var a netip.Addr
		for i := len(hops) - 1; i >= 0; i-- {
			var err error
			if a, err = netip.ParseAddr(string(bytes.TrimSpace(hops[i]))); err != nil {
				return "" // a hop nobody trusted wrote garbage: no answer
			}
			if !s.trusted(a) {
				return a.Unmap().String()
			}
		}
		// Every hop is a trusted proxy: the client is the first of them
		// (a client on the proxies' own network).
		return a.Unmap().String()
	}
	if len(hs.realIP) == 0 {
		return "" // not parsed: ParseAddr's error for "" is garbage every handshake made
	}
	if a, err := netip.ParseAddr(string(bytes.TrimSpace(hs.realIP))); err == nil {
		return a.Unmap().String()
	}
	return ""
}

// addrOf is the IP address of a TCP peer.
func addrOf(a net.Addr) (netip.Addr, bool) {
	if t, ok := a.(*net.TCPAddr); ok {
		ip, ok := netip.AddrFromSlice(t.IP)
		return ip.Unmap(), ok
	}
	return netip.Addr{}, false
}

// appendHops appends one X-Forwarded-For header's value to those before
// it: RFC 7239 and common practice read several such headers as one list.
func appendHops(dst, value []byte) []byte {
	if len(dst) > 0 {
		dst = append(dst, ',')
	}
	return append(dst, value...)
}

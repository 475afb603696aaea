package engine

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/wstest"
)

// ipHooks records the client address each connection's Connected names.
type ipHooks struct {
	nopHooks
	ips chan string
}

func (h ipHooks) Connected(_ Conn, _ net.Addr, ip string) { h.ips <- ip }

// upgradeWith is an upgrade request for path with extra header lines.
func upgradeWith(path, header string) string {
	req := wstest.UpgradeRequest(path)
	if header == "" {
		return req
	}
	return strings.Replace(req, "\r\n\r\n", "\r\n"+header+"\r\n\r\n", 1)
}

func TestForwardedAddressBelievedOnlyFromTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		proxies []netip.Prefix
		header  string
		ip      string
	}{
		// A direct client writes what it likes: not believed.
		{"Untrusted", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, "X-Real-IP: 203.0.113.7", ""},
		{"TrustNobody", []netip.Prefix{}, "X-Forwarded-For: 203.0.113.7", ""},
		{"RealIP", nil, "X-Real-IP: 203.0.113.7", "203.0.113.7"},
		// The client wrote 1.2.3.4; the proxies appended what they saw.
		{"RightMostUntrusted", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")},
			"X-Forwarded-For: 1.2.3.4, 203.0.113.9, 10.0.0.5\r\nX-Real-IP: 1.2.3.4", "203.0.113.9"},
		{"TwoHeaders", nil, "X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 198.51.100.2", "198.51.100.2"},
		{"Garbage", nil, "X-Forwarded-For: 203.0.113.9, nonsense", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := ipHooks{ips: make(chan string, 1)}
			s := startEngineHooks(t, Config{TrustedProxies: tc.proxies}, h, nil)
			c := wstest.Dial(t, s.Addr().String())
			c.Write([]byte(upgradeWith("/ws?user=alice", tc.header)))
			c.ExpectStatus(http.StatusSwitchingProtocols)
			c.ExpectJSON("welcome")
			select {
			case ip := <-h.ips:
				if ip != tc.ip {
					t.Fatalf("ip %q, want %q", ip, tc.ip)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no Connected after the welcome")
			}
		})
	}
}

// The names rule of auth.ValidName (its table is in package auth) holds at
// the upgrade for users and in the protocol for rooms.
func TestNamesRefuseInvisibleCharacters(t *testing.T) {
	s := startEngine(t, Config{}, nil)
	for _, name := range []string{
		"alice\u200b", "alice\u0085", "\u202eecila", "ali\u2028ce", "ali\u2029ce", "alice\u00a0",
		"alice\u2066", "alice\ufeff", "alice\u3164", "alice\ue000", "alice\u0378",
	} {
		c := wstest.Dial(t, s.Addr().String())
		c.Write([]byte(wstest.UpgradeRequest("/ws?user=" + url.QueryEscape(name))))
		if _, body := c.ExpectStatus(http.StatusBadRequest); !strings.Contains(body, "user ids") {
			t.Fatalf("%q: %s", name, body)
		}
	}
	c := wstest.DialWS(t, s.Addr().String(), "/ws?user="+url.QueryEscape("Zoë 李雷 ❤️"))
	if w := c.ExpectJSON("welcome"); w["user"] != "Zoë 李雷 ❤️" {
		t.Fatalf("welcome %v", w)
	}
	c.SendJSON(`{"type":"join","room":"news\u200b","ref":1}`)
	if m := c.ExpectJSON("error"); m["code"] != "bad_request" {
		t.Fatalf("join of an invisible room name: %v", m)
	}
	c.SendJSON(`{"type":"join","room":"新闻 news","ref":2}`)
	c.ExpectJSON("ack")
}

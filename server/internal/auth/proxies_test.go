package auth

import (
	"fmt"
	"testing"
)

func TestParseProxies(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"", "[]"},
		{" , ", "[]"},
		{"10.0.0.0/8", "[10.0.0.0/8]"},
		{"10.1.2.3/8", "[10.0.0.0/8]"}, // masked to its prefix
		{"192.0.2.7", "[192.0.2.7/32]"},
		{"::1", "[::1/128]"},
		{" 127.0.0.0/8 , fd00::/8,203.0.113.9 ", "[127.0.0.0/8 fd00::/8 203.0.113.9/32]"},
	} {
		got, err := ParseProxies(tc.in)
		if err != nil || got == nil || fmt.Sprint(got) != tc.want {
			t.Errorf("ParseProxies(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"nonsense", "10.0.0.0/33", "10.0.0.0/8,example.com", "1.2.3"} {
		if got, err := ParseProxies(bad); err == nil {
			t.Errorf("ParseProxies(%q) = %v, want an error", bad, got)
		}
	}
}

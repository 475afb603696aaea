package bench

import "testing"

func TestParseStamp(t *testing.T) {
	for _, tc := range []struct {
		msg      string
		seq, tus int64
		ok       bool
	}{
		{`{"type":"push","id":"m1","data":{"bench":{"seq":7,"t_us":1763784000123456}},"ts":1}`, 7, 1763784000123456, true},
		// Re-encoded through a map: keys sorted.
		{`{"data":{"bench":{"t_us":5,"seq":3}},"type":"push"}`, 3, 5, true},
		// Re-encoded through a float64.
		{`{"data":{"bench":{"seq":1,"t_us":1.763784000123456e+15}}}`, 1, 1763784000123456, true},
		{`{"type":"welcome","conn":"c1","user":"bench-1","ping":25000}`, 0, 0, false},
		{`{"data":{"bench":{"seq":1}}}`, 0, 0, false},
		{`{"data":{"bench":{"seq":x,"t_us":1}}}`, 0, 0, false},
		{`"bench":{`, 0, 0, false},
	} {
		seq, tus, ok := parseStamp([]byte(tc.msg))
		if ok != tc.ok || ok && (seq != tc.seq || tus != tc.tus) {
			t.Errorf("%s = %d, %d, %v; want %d, %d, %v", tc.msg, seq, tus, ok, tc.seq, tc.tus, tc.ok)
		}
	}
}

func TestParseFlags(t *testing.T) {
	env := func(k string) string {
		if k == "WSPUSH_API_KEY" {
			return "from-env"
		}
		return ""
	}
	cfg, opts, err := parseFlags([]string{"idle", "--conns", "10000", "--workers", "2", "--source-ips", "127.0.0.1-127.0.0.4", "--json"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mode != ModeIdle || cfg.Conns != 10000 || cfg.Workers != 2 || len(cfg.SourceIPs) != 4 || !opts.json || cfg.APIKey != "from-env" {
		t.Fatalf("parsed %+v %+v", cfg, opts)
	}
	for _, bad := range [][]string{
		nil,
		{"--conns", "5"},
		{"flood"},
		{"echo", "--url", "wss://example/ws"},
		{"echo", "--source-ips", "nope"},
		{"echo", "--conns", "2", "--workers", "3"},
		{"echo", "stray"},
	} {
		if _, _, err := parseFlags(bad, env); err == nil {
			t.Errorf("%q parsed; want an error", bad)
		}
	}
}

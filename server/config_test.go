package server

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidateReportsEveryErrorAtOnce(t *testing.T) {
	c := Config{
		ConnConfig: ConnConfig{Addr: "0.0.0.0:0", ClientSends: "maybe", MaxMessage: -1},
		APIAddr:    "0.0.0.0:0", JWTSecret: "short", HistoryTTL: -time.Second,
		Webhook: WebhookConfig{URL: "http://127.0.0.1:1/hook", Events: []string{"nonsense"}},
	}
	err := c.Validate()
	if err == nil {
		t.Fatal("a configuration wrong five ways passed")
	}
	for _, want := range []string{"--client-sends", "limits cannot be negative", "--jwt-secret is 5 bytes",
		"the API on 0.0.0.0:0", "nonsense"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v\nlacks %q", err, want)
		}
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) < 4 {
		t.Fatalf("errors not joined: %T", err)
	}
}

func TestValidateRefusesAnAPICapAboveTheLimit(t *testing.T) {
	err := Config{APIAddr: "127.0.0.1:0", APIMaxConns: 100000}.Validate()
	if err == nil || !strings.Contains(err.Error(), "open-files limit") {
		t.Fatalf("an API cap above the limit: %v", err)
	}
}

func TestDefaultsAreWhatNewFillsIn(t *testing.T) {
	d := Defaults()
	got := New(Config{}).Config()
	if d.MaxConns != 0 || got.MaxConns != (Config{}).DerivedMaxConns() {
		t.Fatalf("MaxConns: Defaults %d (want 0: derived), New %d, derived %d", d.MaxConns, got.MaxConns, (Config{}).DerivedMaxConns())
	}
	if d.Addr != got.Addr || d.MaxMessage != got.MaxMessage ||
		d.HistoryMaxBytes != got.HistoryMaxBytes || d.APIReadTimeout != got.APIReadTimeout || d.Loops != got.Loops {
		t.Fatalf("Defaults %+v\nNew       %+v", d, got)
	}
	if d.Addr != "127.0.0.1:8080" || d.MaxMessage != 64<<10 || d.MaxUserConns != 32 || d.ClientSends != "on" {
		t.Fatalf("defaults %+v", d)
	}
}

func TestMetricsComeFromTheirParts(t *testing.T) {
	s := startServer(t, Config{APIAddr: "127.0.0.1:0", APIMaxConns: 3})
	_, _, metrics := newAPIClient(t, s, "").call("GET", "/metrics", "")
	for _, want := range []string{"wspush_development_mode 1", `wspush_fd_budget{share="api"} 3`,
		"wspush_api_connections 1", `wspush_api_connections_refused_total{action="refused"} 0`,
		"wspush_accepts_refused_total 0", "wspush_connections 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

package engine

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/wire"
)

func TestOnlyGoingAwayCarriesRetryAfter(t *testing.T) {
	s := &Engine{cfg: Config{DrainSpread: time.Second}}
	if s.retryAfter(wire.DisconnectIdle) != 0 || s.retryAfter(wire.DisconnectKicked) != 0 {
		t.Fatal("retry_after on a disconnect other than going_away")
	}
	if (&Engine{}).retryAfter(wire.DisconnectGoingAway) != 0 {
		t.Fatal("retry_after without a DrainSpread")
	}
	var m map[string]any
	b := wire.AppendDisconnect(nil, wire.DisconnectIdle, "", true, 0)
	if err := json.Unmarshal(b[2:b[1]+2], &m); err != nil || m["type"] != "disconnect" {
		t.Fatalf("%q: %v", b, err)
	}
	if _, has := m["retry_after"]; has {
		t.Fatalf("idle_timeout disconnect %v has a retry_after", m)
	}
}

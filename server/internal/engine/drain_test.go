package engine

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gobwas/ws"

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

func TestShutdownSpreadsReconnectsWithRetryAfter(t *testing.T) {
	const spread = 5 * time.Second
	s, shutdown := runEngine(t, Config{DrainSpread: spread}, nil, nil)
	var cs []*client
	for range 3 {
		c, _ := dialAs(t, s, "?user=alice", "")
		cs = append(cs, c)
	}
	done := shutdown()
	for _, c := range cs {
		m := c.ExpectJSON("disconnect")
		ra, ok := m["retry_after"].(float64)
		if m["code"] != 4000.0 || !ok || ra <= 0 || ra > float64(spread.Milliseconds())+1 {
			t.Errorf("disconnect %v, want going_away with retry_after in (0, %d] ms", m, spread.Milliseconds())
		}
		c.ExpectClose(ws.StatusGoingAway)
		c.Send(ws.OpClose, []byte{0x03, 0xe9})
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

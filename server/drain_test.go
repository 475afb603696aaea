package server

import (
	"context"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func TestShutdownSpreadsReconnectsWithRetryAfter(t *testing.T) {
	const spread = 5 * time.Second
	s := startServer(t, Config{ConnConfig: ConnConfig{DrainSpread: spread}})
	var cs []*client
	for range 3 {
		c, _ := dialAs(t, s, "?user=alice", "")
		cs = append(cs, c)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
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

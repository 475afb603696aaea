package budget

import "testing"

func TestSplitKeepsTheAPIOutOfTheWebSocketShare(t *testing.T) {
	p := Parts{Loops: 2, API: true}
	b := Split(256, p)
	if b.API != 16 || b.WS <= 16 || b.Fixed+b.API+1+b.Burst+b.WS != 256 {
		t.Fatalf("budget of 256: %+v", b)
	}
	b = Split(1<<20, p)
	if b.API != 1024 || b.Burst > somaxconn() {
		t.Fatalf("budget of 1M: %+v", b)
	}
}

func TestSplitCountsEveryPart(t *testing.T) {
	b := Split(20000, Parts{Loops: 4, API: true, APIMaxConns: 100, Webhook: 4, Redis: 16})
	// The API's cap and the one connection accepted to be refused, the
	// webhook's, Redis's pool and its 4 more, the burst: all out of the
	// WebSocket share, which is the rest.
	if b.API != 100 || b.Webhook != 4 || b.Redis != 20 || b.Fixed != 72 {
		t.Fatalf("parts: %+v", b)
	}
	if sum := b.Fixed + b.API + 1 + b.Webhook + b.Redis + b.Burst + b.WS; sum != b.Limit {
		t.Fatalf("shares add up to %d of %d: %+v", sum, b.Limit, b)
	}
	if got := b.Shares(); got["websocket"] != b.WS || got["limit"] != 20000 || len(got) != 7 {
		t.Fatalf("shares %v", got)
	}
}

func TestMaxConnsLeavesRoomForHandshakes(t *testing.T) {
	for _, limit := range []int{64, 1024, 20000, 1 << 20} {
		b := Split(limit, Parts{Loops: 2, API: true})
		n := b.MaxConns()
		if n < 1 || n > b.WS-b.WS/16 && b.WS > 16 || n > defaultMaxConns(limit) {
			t.Errorf("limit %d: MaxConns %d of a WebSocket share of %d", limit, n, b.WS)
		}
	}
	// The accept cap the engine derives from a cap of n stays under the
	// limit: n plus its reserve.
	b := Split(20000, Parts{Loops: 2})
	if n := b.MaxConns(); n+Reserve(n) > 20000 {
		t.Fatalf("MaxConns %d plus its reserve passes the limit", n)
	}
}

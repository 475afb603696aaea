package bench

import (
	"testing"

	"github.com/wspush/wspush/server"
)

// startWspush runs an in-process `wspush serve` with its HTTP API, at its
// defaults (compression on), on free ports; it returns the WebSocket URL
// and the API's base URL.
func startWspush(t *testing.T) (string, string) {
	t.Helper()
	srv := startServe(t, server.Config{ConnConfig: server.ConnConfig{Addr: "127.0.0.1:0", Loops: 1, MaxRate: -1}, APIAddr: "127.0.0.1:0"})
	return "ws://" + srv.Addr().String() + "/ws", "http://" + srv.APIAddr().String()
}

// TestBroadcastWithCompression: with --compression the bench negotiates
// permessage-deflate and inflates; a broadcast of a typical 1 KB JSON push
// arrives compressed on every connection, in well under half its size. The
// same run without --compression gets it plain.
func TestBroadcastWithCompression(t *testing.T) {
	url, api := startWspush(t)
	run := func(compression bool) *Result {
		cfg := testConfig(ModeBroadcast, url, 20)
		cfg.API = api
		cfg.Count = 3
		cfg.Rate = 20
		cfg.Payload = 1024
		cfg.Compression = compression
		return runOK(t, cfg)
	}
	z := run(true)
	if z.Conns.Deflate != 20 || z.Messages.Received != 60 || z.Messages.Compressed != 60 {
		t.Fatalf("compressed run: %d conns negotiated, %d of %d arrivals compressed; want 20, 60 of 60",
			z.Conns.Deflate, z.Messages.Compressed, z.Messages.Received)
	}
	plain := run(false)
	if plain.Conns.Deflate != 0 || plain.Messages.Compressed != 0 || plain.Messages.Received != 60 {
		t.Fatalf("plain run: %d conns negotiated, %d of %d arrivals compressed", plain.Conns.Deflate, plain.Messages.Compressed, plain.Messages.Received)
	}
	zw := z.Messages.WireBytes / z.Messages.Received
	pw := plain.Messages.WireBytes / plain.Messages.Received
	if pw < 1024 || zw*2 > pw {
		t.Fatalf("bytes per push on the wire: %d compressed, %d plain", zw, pw)
	}
	t.Logf("a %d-byte push took %d bytes compressed", pw, zw)
}

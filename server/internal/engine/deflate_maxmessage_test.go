package engine

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// deflateFlushedEvery is p compressed for permessage-deflate by a client
// that flushes every block bytes, as a zlib with a small memLevel ends its
// stored blocks: data that does not compress then costs 10 bytes more per
// block (the block's header and the flush's empty block), not 5 per 64 KiB.
// p goes in frames parts, one frame's payload each; the last one's sync
// tail 00 00 ff ff is dropped (RFC 7692 7.2.1).
func deflateFlushedEvery(t *testing.T, p []byte, block, frames int) [][]byte {
	t.Helper()
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	per := (len(p) + frames - 1) / frames
	for len(p) > 0 {
		part := p[:min(per, len(p))]
		p = p[len(part):]
		b.Reset()
		for len(part) > 0 {
			n := min(block, len(part))
			_, _ = w.Write(part[:n])
			_ = w.Flush()
			part = part[n:]
		}
		out = append(out, bytes.Clone(b.Bytes()))
	}
	last := len(out) - 1
	out[last] = bytes.TrimSuffix(out[last], []byte{0, 0, 0xff, 0xff})
	return out
}

// TestCompressedMessageAtMaxMessageEchoes: with permessage-deflate on and
// MaxMessage 65536, a message of 65,536 random bytes whose DEFLATE runs
// 316 bytes over (flushed every 2 KiB) echoes back, whole and in 16
// fragments; 65,537 bytes closes with 1009. At bd5d0fc the first two were
// 1009: the compressed bytes were held to MaxMessage + 1/1024 + 64.
func TestCompressedMessageAtMaxMessageEchoes(t *testing.T) {
	const maxMessage = 65536
	s := startEngine(t, Config{Echo: true, MaxMessage: maxMessage}, nil)
	rng := rand.New(rand.NewPCG(19, 65536))
	for _, tc := range []struct {
		name   string
		n      int
		frames int
	}{
		{"65536 whole", maxMessage, 1},
		{"65536 in 16 fragments", maxMessage, 16},
		{"65537 whole", maxMessage + 1, 1},
		{"65537 in 16 fragments", maxMessage + 1, 16},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			p := make([]byte, tc.n)
			for i := range p {
				p[i] = byte(rng.Uint32())
			}
			nc := deflateDial(t, s)
			var out []byte
			parts := deflateFlushedEvery(t, p, 2<<10, tc.frames)
			wire := 0
			for i, z := range parts {
				f := ws.NewFrame(ws.OpContinuation, i == len(parts)-1, bytes.Clone(z))
				if i == 0 {
					f.Header.OpCode, f.Header.Rsv = ws.OpBinary, ws.Rsv(true, false, false)
				}
				out = append(out, ws.MustCompileFrame(ws.MaskFrameInPlace(f))...)
				wire += len(z)
			}
			t.Logf("%d bytes, %d compressed in %d frames", tc.n, wire, len(parts))
			if wire <= maxMessage+maxMessage>>10+64 {
				t.Fatalf("%d bytes compressed to %d: not over the old bound, the test shows nothing", tc.n, wire)
			}
			if _, err := nc.Write(out); err != nil {
				t.Fatal(err)
			}
			_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			h, err := ws.ReadHeader(nc)
			if err != nil || h.Length > 2*maxMessage {
				t.Fatalf("reply to %d bytes (%d compressed): %v %+v", tc.n, wire, err, h)
			}
			got := make([]byte, h.Length)
			if _, err := io.ReadFull(nc, got); err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.n > maxMessage:
				if h.OpCode != ws.OpClose || len(got) < 2 || ws.StatusCode(binary.BigEndian.Uint16(got)) != ws.StatusMessageTooBig {
					t.Fatalf("%d bytes over %d: got %v %q, want a 1009 close", tc.n, maxMessage, h.OpCode, got)
				}
			case h.OpCode == ws.OpClose:
				t.Fatalf("%d bytes (%d compressed) within %d: closed with %q", tc.n, wire, maxMessage, got)
			case h.OpCode != ws.OpBinary || h.Rsv != 0 || !bytes.Equal(got, p):
				// Random bytes do not shrink: the echo goes plain.
				t.Fatalf("echo: %v rsv %d, %d bytes, want the %d sent", h.OpCode, h.Rsv, len(got), tc.n)
			}
		})
	}
}

// deflateDial opens a WebSocket to s offering permessage-deflate, and
// checks that the engine accepted it.
func deflateDial(t *testing.T, s *Engine) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := ws.Dialer{Extensions: []httphead.Option{wsflate.DefaultParameters.Option()}}
	nc, br, hs, err := d.Dial(ctx, "ws://"+s.Addr().String()+"/ws")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if len(hs.Extensions) != 1 || !bytes.Equal(hs.Extensions[0].Name, wsflate.ExtensionNameBytes) {
		t.Fatalf("extensions %v: permessage-deflate not accepted", hs.Extensions)
	}
	if br != nil {
		return bufConn{nc, br}
	}
	return nc
}

package engine

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wspush/wspush/server/internal/wire"
)

// BenchmarkCompressOnce is what a fan-out pays for compression: once per
// message, the compression (the first receiver that wants it), and per
// receiver the lookup that swaps the plain frame for the compressed one.
func BenchmarkCompressOnce(b *testing.B) {
	s := New(Config{}, nil, nil)
	data := json.RawMessage(`{"items":[` + strings.TrimSuffix(strings.Repeat(`{"sku":"A-100","qty":1,"price":"9.90"},`, 24), ",") + `]}`)
	f := wire.PushFrame(1, "", data, "", "", 0, 0)
	l := &loop{s: s}
	c := &conn{l: l, zout: true}
	b.Run("per-message", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(f)))
		for b.Loop() {
			z := s.share(f, nil)
			if z.deflated(l) == nil {
				b.Fatal("not compressed")
			}
		}
	})
	b.Run("per-receiver", func(b *testing.B) {
		z := s.share(f, nil)
		l.setRun([]job{{frame: f, z: z}})
		iov := [][]byte{f}
		b.ReportAllocs()
		for b.Loop() {
			if out := c.compressed(iov); len(out[0]) >= len(f) {
				b.Fatal("plain frame sent")
			}
		}
	})
}

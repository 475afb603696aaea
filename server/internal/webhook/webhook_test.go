package webhook

import (
	"fmt"
	"testing"
)

// BenchmarkWebhookEnqueue is what a client's publish costs its event loop
// with a webhook on: an event and a copy of the data, no waiting.
func BenchmarkWebhookEnqueue(b *testing.B) {
	for _, size := range []int{16, 1024} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			w := New(Config{URL: "http://127.0.0.1:1/", Queue: 1 << 20, QueueBytes: 1 << 40}, Deps{})
			data := make([]byte, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if len(w.q) == cap(w.q) {
					b.StopTimer()
					for len(w.q) > 0 {
						w.bytes.Add(-(<-w.q).size)
					}
					b.StartTimer()
				}
				w.enqueue(&event{kind: evPublish, conn: 1, user: "alice", target: "room"}, data)
			}
		})
	}
}

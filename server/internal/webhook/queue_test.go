package webhook

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/wspush/wspush/server/internal/wstest"
)

// Before the sender takes anything, the queue holds Config.Queue events
// and no more: the rest are dropped and counted, one by one.
func TestQueueDropsPastItsCap(t *testing.T) {
	w := New(Config{URL: "http://127.0.0.1:1/hook", Queue: 16}, Deps{})
	for i := range 200 {
		w.Message(EventPublish, 1, "alice", "r", []byte(fmt.Sprint(i%10)))
	}
	if c := w.Counters(); c.Queued != 16 || c.Dropped != 184 || c.QueueBytes != int64(16*(EventOverhead+len("alice")+len("r")+1)) {
		t.Fatalf("counters %+v, want 16 queued at %d bytes each and 184 dropped", c, EventOverhead+7)
	}
	if m := metrics(t, w); !hasMetric(m, `wspush_webhook_events_total{result="dropped"} 184`) || !hasMetric(m, "wspush_webhook_queue_events 16") {
		t.Fatalf("metrics:\n%s", m)
	}
}

// The byte budget is reserved before the event is queued: an event that
// would take the queue past Config.QueueBytes is dropped, however few
// events wait.
func TestQueueDropsPastItsByteBudget(t *testing.T) {
	const each = EventOverhead + 100 + len("alice") + len("r")
	w := New(Config{URL: "http://127.0.0.1:1/hook", QueueBytes: 4*each + each/2}, Deps{})
	data := make([]byte, 100)
	for range 10 {
		w.Binary(1, "alice", data) // not wanted by default: costs nothing
		w.Message(EventSend, 1, "alice", "r", data)
	}
	if c := w.Counters(); c.Queued != 4 || c.Dropped != 6 || c.QueueBytes != int64(4*each) {
		t.Fatalf("counters %+v, want 4 queued at %d bytes and 6 dropped", c, each)
	}
}

// A backend that refuses connections or never answers holds at most the
// queue and the batch being posted; the calls of the event loops return
// at once, events beyond the queue dropped and counted.
func TestDeadBackendCostsTheQueueAtMost(t *testing.T) {
	refused := "http://" + wstest.RefusedAddr(t) + "/hook"
	silent := listenSilent(t)

	for _, tc := range []struct{ name, url string }{
		{"refused", refused},
		{"hanging", "http://" + silent + "/hook"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const queue, batch, n = 16, 8, 200
			w := startHook(t, Config{URL: tc.url, Queue: queue, Batch: batch, Delay: 5 * time.Millisecond,
				Timeout: 200 * time.Millisecond, Retries: 3}, Deps{})
			for i := range n {
				w.Message(EventPublish, 1, "alice", "r", []byte(fmt.Sprint(i)))
			}
			if d := w.Counters().Dropped; d < n-2*queue-10 {
				t.Fatalf("dropped %d of %d events: the queue is not bounded", d, n)
			}
			// What waits is the queue and the one batch being posted.
			if b := w.Counters().QueueBytes; b > int64(queue+batch)*(EventOverhead+64) {
				t.Fatalf("queue holds %d bytes", b)
			}
			if m := metrics(t, w); !hasMetric(m, fmt.Sprintf(`wspush_webhook_events_total{result="dropped"} %d`, w.Counters().Dropped)) {
				t.Fatalf("no dropped counter in the metrics:\n%s", m)
			}
			closeHook(w) // two request timeouts at most
			if c := w.Counters(); c.Sent != 0 || c.Failed == 0 {
				t.Fatalf("counters %+v: nothing sent, and what was tried failed", c)
			}
		})
	}
}

// listenSilent accepts connections on a loopback port for the length of
// the test, reads what they send and never answers. It returns the
// address.
func listenSilent(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(io.Discard, c) // until the client gives up
			}()
		}
	}()
	return ln.Addr().String()
}

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

package webhook

import (
	"net"
	"time"

	"github.com/wspush/wspush/server/internal/auth"
)

// The loop side: every call below runs on whichever goroutine has the
// event (an event loop, mostly), copies what it needs and returns without
// waiting. The queue is a buffered channel of Config.Queue events and a
// byte budget of Config.QueueBytes, reserved before the send; an event
// that fits neither is dropped and counted.

// EventOverhead is what an event costs against QueueBytes beyond its
// strings and data.
const EventOverhead = 128

// event is one queued event. data is its own copy.
type event struct {
	kind   uint8
	ts     int64 // Unix milliseconds
	conn   uint64
	user   string
	target string   // the room of a publish, the user of a send
	reason string   // why a connection ended
	remote net.Addr // the peer of a connect
	ip     string   // X-Real-IP of a connect, set by a proxy
	data   []byte   // JSON of publish and send, raw bytes of binary
	users  []string // the users of a message.* event; target is its id
	size   int64    // what the event counts against QueueBytes
}

// offlineUser is a user whose grace passed, at due.
type offlineUser struct {
	user string
	due  time.Time
}

// Connect queues the connect event of connection conn of user, from
// remote (ip: the X-Real-IP a proxy set, if any).
func (w *Webhook) Connect(conn uint64, user string, remote net.Addr, ip string) {
	if !w.wants(evConnect) {
		return
	}
	w.enqueue(&event{kind: evConnect, conn: conn, user: user, remote: remote, ip: ip}, nil)
}

// Disconnect queues the disconnect event of connection conn of user,
// which ended for reason.
func (w *Webhook) Disconnect(conn uint64, user, reason string) {
	if !w.wants(evDisconnect) {
		return
	}
	w.enqueue(&event{kind: evDisconnect, conn: conn, user: user, reason: reason}, nil)
}

// Message queues a client's publish (kind EventPublish, target the room)
// or send (EventSend, target the receiving user). data is copied.
func (w *Webhook) Message(kind string, conn uint64, user, target string, data []byte) {
	k := evSend
	if kind == EventPublish {
		k = evPublish
	}
	if !w.wants(k) {
		return
	}
	w.enqueue(&event{kind: k, conn: conn, user: user, target: target}, data)
}

// Binary queues a client's binary message, sent base64-encoded. data is
// copied.
func (w *Webhook) Binary(conn uint64, user string, data []byte) {
	if !w.wants(evBinary) {
		return
	}
	w.enqueue(&event{kind: evBinary, conn: conn, user: user}, data)
}

// Offline notes that the grace of users passed, that of users[i] at
// due[i], with no connection here: the sender checks the other nodes, all
// waiting users at once (Deps.Connected), and sends an offline event for
// each with none. Past Config.Queue waiting users the rest are dropped and
// counted. The slices are only read, during the call. It is the presence
// Grace's callback.
func (w *Webhook) Offline(users []string, due []time.Time) {
	if !w.wants(evOffline) || len(users) == 0 {
		return
	}
	w.offMu.Lock()
	n := min(len(users), w.cfg.Queue-len(w.offline))
	for i := range n {
		w.offline = append(w.offline, offlineUser{users[i], due[i]})
	}
	w.offMu.Unlock()
	if n > 0 {
		select {
		case w.offReady <- struct{}{}:
		default: // the sender is woken already
		}
	}
	w.drop(int64(len(users) - n))
}

// enqueue puts e, with a copy of data, in the queue without ever blocking;
// when the queue is full it drops e. It may run on any goroutine.
func (w *Webhook) enqueue(e *event, data []byte) {
	e.size = int64(EventOverhead + len(data) + len(e.user) + len(e.target))
	for _, u := range e.users {
		e.size += int64(len(u) + 3)
	}
	if w.bytes.Add(e.size) > int64(w.cfg.QueueBytes) {
		w.bytes.Add(-e.size)
		w.drop(1)
		return
	}
	if len(data) > 0 {
		e.data = append([]byte(nil), data...)
	}
	e.ts = time.Now().UnixMilli()
	select {
	case w.q <- e:
	default:
		w.bytes.Add(-e.size)
		w.drop(1)
	}
}

// drop counts n dropped events and logs at most every 10 s.
func (w *Webhook) drop(n int64) {
	if n <= 0 {
		return
	}
	n = w.dropped.Add(n)
	if w.logDue() {
		w.log.Warn("webhook: queue full, dropping events: the backend is too slow or down",
			"url", auth.RedactURL(w.cfg.URL), "dropped_total", n, "queued", len(w.q), "queue_bytes", w.bytes.Load())
	}
}

// logDue reports, to one caller every 10 s, that it may log.
func (w *Webhook) logDue() bool {
	now, last := time.Now().UnixNano(), w.lastLog.Load()
	return now-last >= int64(10*time.Second) && w.lastLog.CompareAndSwap(last, now)
}

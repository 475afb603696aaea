package webhook

import (
	"fmt"
	"strings"
	"time"

	"github.com/wspush/wspush/server/internal/auth"
)

// Event kinds: an event's "type", and the names Config.Events takes.
const (
	EventConnect    = "connect"
	EventDisconnect = "disconnect"
	EventPublish    = "publish"
	EventSend       = "send"
	EventBinary     = "binary"
	// EventOffline is a user's: its last connection closed and the
	// offline grace passed without a new one.
	EventOffline = "offline"
	// EventUndelivered is a message's (receipts.go): users who did not
	// acknowledge a push that asked for a receipt before its timeout.
	// Sent for every such push whatever Config.Events lists.
	EventUndelivered = "message.undelivered"
	// EventReceived is a message's: a user acknowledged it. Opt-in.
	EventReceived = "message.received"
)

// DefaultEvents are the kinds sent when Config.Events is empty.
var DefaultEvents = []string{EventPublish, EventSend, EventConnect, EventDisconnect, EventOffline}

// Defaults for the zero values of Config.
const (
	DefaultQueue      = 65536
	DefaultQueueBytes = 64 << 20
	DefaultBatch      = 100
	DefaultDelay      = 100 * time.Millisecond
	DefaultTimeout    = 5 * time.Second
	DefaultRetries    = 5
)

// Config configures the events sent to the backend. The zero value
// sends none.
type Config struct {
	// URL receives the events as POST requests. Empty means no webhook.
	URL string
	// Secret is the HMAC-SHA256 key of the SignatureHeader. Empty
	// sends no signature.
	Secret string
	// Events are the kinds to send (EventConnect, ...). Empty means
	// DefaultEvents.
	Events []string
	// Queue caps the events waiting to be sent; past it new events are
	// dropped and counted. It caps as well the users whose grace passed
	// waiting for the sender (Offline). Zero means 65536.
	Queue int
	// QueueBytes caps the bytes those events hold. Zero means 64 MiB.
	QueueBytes int
	// Batch caps the events of one request. Zero means 100.
	Batch int
	// Delay is how long a batch's first event waits for others. Zero
	// means 100ms.
	Delay time.Duration
	// Timeout bounds one request, a hanging backend included. Zero means 5s.
	Timeout time.Duration
	// Retries is how often a batch that failed (network error, 408, 429,
	// 5xx) is sent again, after 100ms, 200ms, ... up to 10s apart, with
	// jitter. Zero means 5; negative means never.
	Retries int
}

// Validate reports a webhook configuration the server must refuse.
func (c Config) Validate() error {
	if c.URL == "" {
		return nil
	}
	if !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
		return fmt.Errorf("webhook: URL %q: want http:// or https://", auth.RedactURL(c.URL))
	}
	_, err := kindsOf(c.Events)
	return err
}

// ValidateHook reports a connect hook URL the server must refuse; empty
// is none.
func ValidateHook(url string) error {
	if url != "" && !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return fmt.Errorf("webhook: --connect-hook %q: want http:// or https://", auth.RedactURL(url))
	}
	return nil
}

// WithDefaults returns c with every zero field set to its default; a
// negative Retries means none. New applies it.
func (c Config) WithDefaults() Config {
	if c.Queue <= 0 {
		c.Queue = DefaultQueue
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = DefaultQueueBytes
	}
	if c.Batch <= 0 {
		c.Batch = DefaultBatch
	}
	if c.Delay <= 0 {
		c.Delay = DefaultDelay
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Retries == 0 {
		c.Retries = DefaultRetries
	} else if c.Retries < 0 {
		c.Retries = 0
	}
	return c
}

// Event kind bits.
const (
	evConnect uint8 = 1 << iota
	evDisconnect
	evPublish
	evSend
	evBinary
	evOffline
	evUndelivered
	evReceived
)

var kindNames = map[string]uint8{
	EventConnect: evConnect, EventDisconnect: evDisconnect,
	EventPublish: evPublish, EventSend: evSend, EventBinary: evBinary,
	EventOffline: evOffline, EventUndelivered: evUndelivered, EventReceived: evReceived,
}

// kindName is the name of one kind bit.
func kindName(k uint8) string {
	for name, b := range kindNames {
		if b == k {
			return name
		}
	}
	return ""
}

// kindsOf parses event kind names.
func kindsOf(names []string) (uint8, error) {
	if len(names) == 0 {
		names = DefaultEvents
	}
	var k uint8
	for _, n := range names {
		b, ok := kindNames[strings.TrimSpace(n)]
		if !ok {
			return 0, fmt.Errorf("webhook: unknown event %q: want connect, disconnect, offline, publish, send, binary, message.undelivered or message.received", n)
		}
		k |= b
	}
	return k, nil
}

package webhook

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
)

// Deps is what the webhook needs of the rest of the server.
type Deps struct {
	// Log receives the webhook's warnings. Nil discards them.
	Log *slog.Logger
	// Connected reports, for users whose grace passed here (Offline),
	// which have a connection somewhere (in a cluster: on another node),
	// with one question for all of them. The sender asks it as it builds
	// a batch, so it may wait (for Redis, say), but not for long: the
	// batch waits with it. Nil: nobody has.
	Connected func(users []string) []bool
}

// Webhook sends events to the backend. A nil *Webhook sends nothing, so
// the calls on the event loops are single calls whatever the
// configuration. Its methods are safe for any goroutine and never block.
type Webhook struct {
	cfg    Config
	kinds  uint8
	deps   Deps
	log    *slog.Logger
	q      chan *event
	client *http.Client
	prefix string // event ids are prefix-seq: unique across restarts

	bytes   atomic.Int64 // bytes of queued events
	seq     atomic.Uint64
	lastLog atomic.Int64 // Unix nanoseconds of the last drop or failure log

	// Counters for the metrics.
	sent, dropped, failed, retries atomic.Int64
	requests                       [4]atomic.Int64 // by requestClasses
	fails                          failures        // the last failed requests, for the console

	// Users whose grace passed, waiting for the sender to check them
	// (Offline); bounded by Config.Queue. offReady wakes the sender.
	offMu    sync.Mutex
	offline  []offlineUser
	offReady chan struct{}

	startOnce, closeOnce sync.Once
	quit                 chan struct{} // closed by close: flush and stop
	done                 chan struct{} // closed when the sender has stopped
	ctx                  context.Context
	cancel               context.CancelFunc
}

// New returns the webhook for cfg, not yet sending (Start), or nil when
// cfg has no URL.
func New(cfg Config, deps Deps) *Webhook {
	if cfg.URL == "" {
		return nil
	}
	cfg = cfg.WithDefaults()
	kinds, _ := kindsOf(cfg.Events) // Validate has refused bad names
	kinds |= evUndelivered          // whatever Events lists (receipts.go)
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var id [4]byte
	_, _ = io.ReadFull(crand.Reader, id[:])
	ctx, cancel := context.WithCancel(context.Background())
	return &Webhook{
		cfg:      cfg,
		kinds:    kinds,
		deps:     deps,
		log:      log,
		q:        make(chan *event, cfg.Queue),
		offReady: make(chan struct{}, 1),
		client:   webhookClient(cfg.Timeout),
		prefix:   hex.EncodeToString(id[:]),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		ctx:      ctx,
		cancel:   cancel,
	}
}

// wants reports whether events of kind k are sent; false on a nil webhook.
func (w *Webhook) wants(k uint8) bool { return w != nil && w.kinds&k != 0 }

// Wants reports whether events of kind (EventConnect, ...) are sent;
// false on a nil webhook.
func (w *Webhook) Wants(kind string) bool { return w.wants(kindNames[kind]) }

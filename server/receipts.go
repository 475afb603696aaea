package server

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wspush/wspush/server/internal/cluster"
	"github.com/wspush/wspush/server/internal/engine"
	"github.com/wspush/wspush/server/internal/receipt"
	"github.com/wspush/wspush/server/internal/wire"
)

// Delivery receipts (docs/api.md, "Receipts"): a push may ask each of its
// users to acknowledge it within a timeout. The receipts are kept by one
// node's receipt.Memory, or in a cluster by Redis (cluster.Receipts), so
// that an acknowledgement reaching any node counts; the users who did not
// acknowledge in time go to the webhook as message.undelivered, with the
// message's data. A push without a receipt never touches them.

// receipts is where the receipts are kept: receipt.Memory on one node,
// cluster.Receipts in a cluster.
type receipts interface {
	// Begin starts the receipts of starts (ids set) and says for each nil
	// or why not (wire.ErrReceiptsFull, wire.ErrUnavailable).
	Begin(ctx context.Context, starts []wire.ReceiptStart) []error
	// Ack applies a connection's acknowledgement of keys for user. It
	// runs on an event loop and never blocks.
	Ack(user string, keys []string) int
	// Status is message id's receipt per user, or wire.ErrNoReceipt.
	Status(ctx context.Context, id string) (wire.Receipt, error)
	Collector() prometheus.Collector
	Start()
	Close()
}

var (
	_ receipts = (*receipt.Memory)(nil)
	_ receipts = (*cluster.Receipts)(nil)
)

// receiptConfig is the receipts' configuration for cfg: its cap, and the
// webhook's events.
func (s *Server) receiptConfig() receipt.Config {
	rc := receipt.Config{Max: s.cfg.MaxReceipts, Now: s.now, Undelivered: s.hook.Undelivered}
	if s.hook.WantsReceived() {
		rc.Received = s.hook.Received
	}
	return rc
}

// ErrReceiptsFull is returned, wrapped, when the pending receipts are at
// Config.MaxReceipts: nothing was sent. The HTTP API answers 503
// receipts_full with Retry-After.
var ErrReceiptsFull = wire.ErrReceiptsFull

// ErrNoReceipt is returned by Receipt for a message without receipts, or
// whose receipts are no longer kept.
var ErrNoReceipt = wire.ErrNoReceipt

// Receipt is a message's receipt per user, as GET /v1/messages/{id}
// answers it.
type Receipt = wire.Receipt

// PushReceipt is PushID for a push that asks each of users for a receipt
// within timeout (at most Config.ReceiptMaxTimeout): it returns the
// message's id too, one of the server's when id is empty. The push's
// envelope carries "receipt":KEY, the receipt's key, which the clients
// acknowledge. Past Config.MaxReceipts pending
// receipts it sends nothing and returns ErrReceiptsFull.
func (s *Server) PushReceipt(ctx context.Context, id string, users []string, data json.RawMessage, timeout time.Duration) (PushResult, string, error) {
	starts := []wire.ReceiptStart{{ID: id, Users: users, Data: data, Timeout: timeout}}
	if err := s.BeginReceipts(ctx, starts)[0]; err != nil {
		return PushResult{}, starts[0].ID, err
	}
	res, err := s.b.Push(ctx, starts[0].ID, users, wire.ReceiptData(data, starts[0].Key), "")
	return res, starts[0].ID, err
}

// BeginReceipts starts the receipts of pushes about to be sent: it gives
// each start without an id one of the server's, and each its key (in
// starts), and says for each nil or why not. The push itself must then
// carry wire.ReceiptData(data, key) under that id. A timeout over
// Config.ReceiptMaxTimeout, or not positive, is refused.
func (s *Server) BeginReceipts(ctx context.Context, starts []wire.ReceiptStart) []error {
	errs := make([]error, len(starts))
	ok := make([]wire.ReceiptStart, 0, len(starts))
	at := make([]int, 0, len(starts))
	for i := range starts {
		st := &starts[i]
		if st.ID == "" {
			st.ID = newMessageID()
		}
		st.Key = newReceiptKey()
		if st.Timeout <= 0 || st.Timeout > s.cfg.ReceiptMaxTimeout {
			errs[i] = fmt.Errorf("server: a receipt's timeout is 1ms to %s (--receipt-max-timeout), not %s", s.cfg.ReceiptMaxTimeout, st.Timeout)
			continue
		}
		ok = append(ok, *st)
		at = append(at, i)
	}
	for k, err := range s.rc.Begin(ctx, ok) {
		errs[at[k]] = err
		starts[at[k]].Key = ok[k].Key // a retry's: the receipts' own
	}
	return errs
}

// Receipt is message id's receipt per user, while it is kept, or
// ErrNoReceipt.
func (s *Server) Receipt(ctx context.Context, id string) (Receipt, error) {
	return s.rc.Status(ctx, id)
}

// ReceiptMaxTimeout is the longest receipt timeout in force.
func (s *Server) ReceiptMaxTimeout() time.Duration { return s.cfg.ReceiptMaxTimeout }

// newReceiptKey is a receipt's key: "r-" and 16 random hex digits, which
// only a client that got the push can know.
func newReceiptKey() string {
	var b [8]byte
	_, _ = io.ReadFull(crand.Reader, b[:])
	return "r-" + hex.EncodeToString(b[:])
}

// newMessageID is an id for a push with receipts whose backend gave none:
// "m-" and 16 random hex digits, unique across the nodes of a cluster and
// their restarts, unlike the "mN" of a push without receipts.
func newMessageID() string {
	var b [8]byte
	_, _ = io.ReadFull(crand.Reader, b[:])
	return "m-" + hex.EncodeToString(b[:])
}

func (h hooks) Received(c engine.Conn, keys []string) { h.s.rc.Ack(c.User, keys) }

func (b backend) BeginReceipts(ctx context.Context, starts []wire.ReceiptStart) []error {
	return b.s.BeginReceipts(ctx, starts)
}

func (b backend) Receipt(ctx context.Context, id string) (wire.Receipt, error) {
	return b.s.Receipt(ctx, id)
}

func (b backend) ReceiptMaxTimeout() time.Duration { return b.s.ReceiptMaxTimeout() }

// newReceipts returns where the receipts are kept for s's broker: in
// Redis for a cluster, in memory on one node.
func (s *Server) newReceipts() receipts {
	if cl, ok := s.b.(*cluster.Cluster); ok {
		return cl.Receipts(s.receiptConfig())
	}
	return receipt.NewMemory(s.receiptConfig())
}

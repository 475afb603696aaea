package server

import (
	"context"

	"github.com/wspush/wspush/server/internal/wire"
)

// Batches of distinct messages (POST /v1/push/batch): one call to the
// broker for all of them. On a single node each goes to the loops in
// turn, without a round trip to the backend between two; in a cluster
// they go to Redis in one pipeline per round trip.

// BatchPush is one message of a batch: its id ("" for one of this node's),
// its users and its data.
type BatchPush = wire.Push

// BatchResult is what a batch did with one message: the PushResult a
// PushID would have returned, or its error (ErrBusy, ErrUnavailable, the
// context's).
type BatchResult = wire.Pushed

// PushBatch sends each of msgs as PushID would, in order, and returns one
// BatchResult per message: one that fails does not stop the others.
// Messages to the same user arrive in the order of msgs.
func (s *Server) PushBatch(ctx context.Context, msgs []BatchPush) []BatchResult {
	return s.b.PushBatch(ctx, msgs)
}

func (b backend) PushBatch(ctx context.Context, msgs []wire.Push) []wire.Pushed {
	return b.s.PushBatch(ctx, msgs)
}

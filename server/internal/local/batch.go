package local

import (
	"context"
	"time"

	"github.com/wspush/wspush/server/internal/engine"
	"github.com/wspush/wspush/server/internal/history"
	"github.com/wspush/wspush/server/internal/wire"
)

// PushBatch sends each of msgs as Push does, all handed to the loops
// before the first is waited for (engine.DeliverUsersBatch): each is
// encoded and kept in the history in turn, so that positions follow the
// batch's order.
func (b *Broker) PushBatch(ctx context.Context, msgs []wire.Push) []wire.Pushed {
	ds, errs := b.eng.DeliverUsersBatch(ctx, len(msgs), func(i int) engine.UsersMessage {
		m := msgs[i]
		f, p := b.encode(m.ID, m.Data, "", "", nil, true)
		return engine.UsersMessage{Users: m.Users, Frame: f, Pos: p, Keep: b.keeper(f, p)}
	})
	out := make([]wire.Pushed, len(msgs))
	for i, d := range ds {
		out[i] = wire.Pushed{Result: wire.PushResult{Delivered: d.Delivered, Online: d.Online, Offline: d.Offline}, Err: errs[i]}
	}
	return out
}

// keeper is what keeps a push, frame f at position p, in the streams of
// its users connected and of those gone for less than the TTL; nil without
// a history.
func (b *Broker) keeper(f []byte, p history.Pos) func(online, offline []string) {
	if b.hist == nil {
		return nil
	}
	return func(online, offline []string) {
		now := time.Now()
		for _, u := range online {
			b.hist.Add(history.UserStream(u), p, f, now)
		}
		for _, u := range offline {
			if b.recent.Within(u, now) {
				b.hist.Add(history.UserStream(u), p, f, now)
			}
		}
	}
}

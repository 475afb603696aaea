package engine

import "github.com/wspush/wspush/server/internal/wire"

// RejectStatuses are the HTTP statuses an upgrade can be refused with, in
// the order of Counters.Rejected; the last entry, 0, counts any other.
var RejectStatuses = [...]int{400, 401, 403, 404, 405, 426, 431, 503, 505, 0}

// Counters is a snapshot of the engine's counters. Those marked "ever"
// only grow; the others are current values.
type Counters struct {
	Conns          int64 // upgraded connections open now
	TCP            int64 // TCP connections with state, upgraded or not
	Users          int   // users with at least one connection
	Rooms          int   // rooms with at least one member
	MessagesIn     int64 // data messages received, ever
	MessagesOut    int64 // pushes written to connections, ever
	BytesIn        int64 // WebSocket bytes read after upgrades, ever
	BytesOut       int64 // bytes written, handshakes included, ever
	Upgrades       int64 // successful upgrades, ever
	Rejected       [len(RejectStatuses)]int64
	Closes         [wire.NumReasons]int64 // connections ended, by reason, ever
	Queued         int64                  // fan-out jobs waiting in the loops' outboxes
	Refused        int64                  // fan-out jobs refused by a full outbox, ever
	AcceptsRefused int64                  // TCP connections refused at the accept cap (503), ever
	Gaps           int64                  // resumes answered with a gap, ever
	Replayed       int64                  // messages replayed to resuming clients, ever
	Held           int64                  // live messages held back from connections waiting to resume, ever
	LagConns       int64                  // connections with frames waiting beyond gnet's share (lag.go)
	LagBytes       int64                  // the bytes those frames take
	LagDropped     int64                  // frames dropped from lags at a disconnect or close, ever
	Draining       bool
	// permessage-deflate: upgrades that negotiated it, messages compressed
	// (once per fan-out message), messages inflated; ever.
	DeflateNegotiated, Deflated, Inflated int64
}

// Counters reads the engine's counters. It may be called from any
// goroutine; it reads atomics and never waits for the event loops, so the
// numbers of different fields may be a few moments apart.
func (s *Engine) Counters() Counters {
	c := Counters{
		Conns:          s.conns.Load(),
		TCP:            s.tcp.Load(),
		Users:          s.pool.Users(),
		Rooms:          s.pool.RoomCount(),
		Upgrades:       s.upgrades.Load(),
		Refused:        s.refused.Load(),
		AcceptsRefused: s.refusedWS.n.Load(),
		Gaps:           s.gaps.Load(),
		Replayed:       s.replays.Load(),
		Held:           s.held.Load(),
		LagDropped:     s.lagDropped.Load(),
		Draining:       s.draining.Load(),
	}
	for i := range s.rejects {
		c.Rejected[i] = s.rejects[i].Load()
	}
	for i := range s.closes {
		c.Closes[i] = s.closes[i].Load()
	}
	for _, l := range s.loopList() {
		c.MessagesIn += l.msgsIn.Load()
		c.MessagesOut += l.msgsOut.Load()
		c.BytesIn += l.bytesIn.Load()
		c.BytesOut += l.bytesOut.Load()
		c.Queued += l.queued.Load()
		c.LagConns += l.lagConns.Load()
		c.LagBytes += l.lagBytes.Load()
		c.DeflateNegotiated += l.fl.stats.negotiated.Load()
		c.Deflated += l.fl.stats.deflated.Load()
		c.Inflated += l.fl.stats.inflated.Load()
	}
	return c
}

// Backlog is the depth of the deepest event loop's outbox: the jobs the
// slowest loop has yet to run, which is how far behind its deliveries
// are. The cluster refuses API calls while it is past its bound
// (cluster.Config.MaxBacklog) rather than queue them without end.
func (s *Engine) Backlog() int64 {
	var most int64
	for _, l := range s.loopList() {
		most = max(most, l.queued.Load())
	}
	return most
}

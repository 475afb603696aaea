// Package history keeps what clients may have missed. Recovery (docs/protocol.md#recovery): every push to a user or a room
// carries a position, "pos", in the stream it belongs to: "u:USER" for
// pushes and sends to a user, "r:ROOM" for room publishes. A position is
// a Redis stream id, "MS-SEQ": milliseconds and a sequence number, taken
// from one clock that only goes forward, so positions are comparable
// across every stream of a node (and of a cluster, whose positions Redis
// assigns). A client that reconnects names the last position it saw per
// stream and gets what it missed; the history keeps, per stream, the last
// Config.HistorySize messages younger than Config.HistoryTTL.
//
// The package holds positions (Pos, Clock), the Store interface that a
// resume reads through, its in-memory implementation (Memory; the cluster
// has one over Redis streams), and the one recovery algorithm (Recover)
// that turns what a store read into what a resuming client is sent.
package history

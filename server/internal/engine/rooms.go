package engine

import (
	"github.com/wspush/wspush/pool"
	"github.com/wspush/wspush/server/internal/roster"
)

// Room membership by user: the pool keeps a room's connections per loop,
// for fan-out; the roster its users, for the API's reads (GET /v1/rooms,
// GET /v1/rooms/{room}) and the cluster's record of them in Redis. Every
// join and leave of the pool goes through joined and parted, on the
// connection's loop.

// Roster is who is in which room on this node, by user. Safe for any
// goroutine.
func (s *Engine) Roster() *roster.Roster { return s.roster }

// joined records that m joined room: in the roster, and to the hooks
// (Member when it is its user's first connection there). It runs on m's
// loop.
func (s *Engine) joined(m *pool.Member, room string) {
	if s.roster.Add(room, m.User) {
		s.hooks.Member(room, m.User)
	}
	s.hooks.Joined(room)
}

// parted records that m left room. It runs on m's loop.
func (s *Engine) parted(m *pool.Member, room string) {
	if s.roster.Remove(room, m.User) {
		s.hooks.Member(room, m.User)
	}
}

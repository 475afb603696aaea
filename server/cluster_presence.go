package server

import (
	"sync"
	"time"

	"github.com/wspush/wspush/pool"
)

// Presence: a user is online while it has a connection, and for
// Config.OfflineGrace after its last one closed, so that an app switch
// (a mini-program loses its socket about 5 s after it goes to the
// background) does not flap presence. In a cluster the nodes' counts add
// up in Redis (cluster.go).

// graceList remembers when users' last connections closed, for the grace
// period. Safe for any goroutine; its lock is held for one list operation,
// and expiry looks only at the users whose grace has passed.
type graceList struct {
	d    time.Duration
	mu   sync.Mutex
	left dueList // users, due when their grace ends
}

// add records that user's last connection closed at now.
func (g *graceList) add(user string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.left.expire(now, nil)
	g.left.set(user, now.Add(g.d))
}

// within reports whether user's last connection closed less than the
// grace period before now.
func (g *graceList) within(user string, now time.Time) bool {
	if g.d <= 0 {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	end, ok := g.left.get(user)
	return ok && now.Before(end)
}

// connected notes a new connection, m, in the pool. It runs on m's loop.
func (s *Server) connected(m *pool.Member) {
	if s.cl != nil {
		s.cl.note(m.User, 1)
		s.pool.Rooms(m, s.cl.noteRoom)
	}
}

// joined notes that a connection joined room. It runs on a loop.
func (s *Server) joined(room string) {
	if s.cl != nil {
		s.cl.noteRoom(room)
	}
}

// disconnected notes that a connection of user left the pool. It runs on
// a loop.
func (s *Server) disconnected(user string) {
	if s.cfg.OfflineGrace > 0 && s.pool.UserConns(user) == 0 {
		s.grace.add(user, time.Now())
	}
	if s.cl != nil {
		s.cl.note(user, -1)
	}
}

// Presence is what the server knows of a user, as GET /v1/users/{user}
// answers it.
type Presence struct {
	User        string `json:"user"`
	Online      bool   `json:"online"`
	Connections int    `json:"connections"` // open now, on every node
}

// Presence reports whether user is online: connected, or gone for less
// than Config.OfflineGrace. In a cluster it asks Redis, and answers for
// this node alone if Redis does not answer.
func (s *Server) Presence(user string) Presence {
	if s.cl != nil {
		if p, err := s.cl.presence(user); err == nil {
			return p
		}
	}
	n := s.pool.UserConns(user)
	return Presence{User: user, Online: n > 0 || s.grace.within(user, time.Now()), Connections: n}
}

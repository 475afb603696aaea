package server

import (
	"context"
	"time"

	"github.com/wspush/wspush/server/internal/wire"
)

// Presence: a user is online while it has a connection, and for
// Config.OfflineGrace after its last one closed (the presence package's
// Grace), so that an app switch does not flap presence. In a cluster the
// nodes' counts add up in Redis.

// Presence is what the server knows of a user, as GET /v1/users/{user}
// answers it.
type Presence = wire.Presence

// Presence reports whether user is online: connected, or gone for less
// than Config.OfflineGrace. In a cluster it asks Redis, and answers for
// this node alone if Redis does not answer.
func (s *Server) Presence(ctx context.Context, user string) Presence {
	if p, err := s.b.Presence(ctx, user); err == nil {
		return p
	}
	n := s.eng.UserConns(user)
	return Presence{User: user, Online: s.grace.Online(user, n), Connections: n}
}

// connectedElsewhere reports, for users whose grace passed here, which
// have a connection on another node: one Redis round trip for all of them.
// On a single node, or while Redis is down, nobody has.
func (s *Server) connectedElsewhere(users []string) []bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	on, _ := s.b.Connected(ctx, users)
	return on
}

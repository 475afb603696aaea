package server

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/wspush/wspush/server/internal/cluster"
	"github.com/wspush/wspush/server/internal/webhook"
)

// A process that runs out of descriptors loses more than the connection
// it could not open: gnet v2.10's acceptor (acceptor_unix.go) treats every
// accept error but EINTR, EAGAIN, ECONNRESET and ECONNABORTED as fatal, so
// one EMFILE stops the engine and closes every WebSocket the server holds.
// gnet offers no hook to retry instead. So the server never lets accept
// meet EMFILE: it splits the open-files limit between everything that
// holds descriptors, and caps each part.
//
//	fixed    listeners, the pollers and event fds of the loops, stdio, /proc reads
//	api      the API's connection cap, and one more accepted only to be refused
//	webhook  the webhook's connections and a DNS lookup
//	redis    the Redis pool, its subscriber and a DNS lookup
//	burst    connections gnet's acceptor has taken from the kernel but no
//	         loop has counted yet (OnOpen): at most the listen backlog,
//	         which the server sets to this (a burst past it waits in the
//	         kernel's SYN queue or is retried by the client)
//	ws       the rest: the cap on WebSocket TCP connections (the engine's
//	         AcceptCap; the backlog it sets is the burst)

// fdBudget is the open-files limit split between its users.
type fdBudget struct {
	limit, fixed, api, webhook, redis, burst, ws int
}

// budget splits the open-files limit for s's configuration.
func (s *Server) budget() fdBudget { return s.cfg.budget(openFilesLimit()) }

func (c Config) budget(limit int) fdBudget {
	b := fdBudget{limit: limit, fixed: 64 + 2*max(c.Loops, 1)}
	if c.APIAddr != "" {
		b.api = c.APIMaxConns
		if b.api <= 0 {
			b.api = DefaultAPIMaxConns(limit)
		}
	}
	if c.Webhook.URL != "" {
		b.webhook = webhook.Conns
	}
	if c.Redis != "" {
		if opt, err := cluster.RedisOptions(c.Redis); err == nil {
			b.redis = opt.PoolSize + 4
		}
	}
	b.burst = min(somaxconn(), max(64, limit/16))
	// The API's one more: the connection accepted to be answered 503.
	b.ws = limit - b.fixed - (b.api + min(b.api, 1)) - b.webhook - b.redis - b.burst
	return b
}

// defaultMaxConns is the upgraded-connection cap of a zero MaxConns: what
// the open-files limit allows (DefaultMaxConns), within the WebSocket
// share of the budget less a sixteenth for handshakes in progress.
func (c Config) defaultMaxConns() int {
	ws := c.budget(openFilesLimit()).ws
	return max(min(DefaultMaxConns(), ws-ws/16), 1)
}

// DefaultAPIMaxConns is the API's connection cap for an open-files limit:
// a sixteenth of it, from 16 to 1024. A backend needs a few connections
// per process that calls the API.
func DefaultAPIMaxConns(limit int) int {
	return min(max(limit/16, 16), 1024)
}

// somaxconn is the kernel's cap on a listen backlog, which gnet asks for.
func somaxconn() int {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return 4096
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return 4096
	}
	return n
}

// logBudget logs the split of the open-files limit at start.
func (s *Server) logBudget() {
	b := s.budget()
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "descriptor budget",
		slog.Int("open_files_limit", b.limit), slog.Int("fixed", b.fixed), slog.Int("api", b.api),
		slog.Int("webhook", b.webhook), slog.Int("redis", b.redis), slog.Int("burst", b.burst),
		slog.Int("websocket", b.ws), slog.Int64("accept_cap", s.eng.AcceptCap()))
}

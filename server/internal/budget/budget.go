// Package budget splits the process's open-files limit between everything
// that holds descriptors, so that accept never meets EMFILE.
//
// A process that runs out of descriptors loses more than the connection
// it could not open: gnet v2.10's acceptor (acceptor_unix.go) treats every
// accept error but EINTR, EAGAIN, ECONNRESET and ECONNABORTED as fatal, so
// one EMFILE stops the engine and closes every WebSocket the server holds.
// gnet offers no hook to retry instead. So the server never lets accept
// meet EMFILE: it splits the limit between its users, and caps each part.
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
//
// This package is the one model of that split: the engine's default
// connection cap, the server's accept cap and backlog, the API's cap and
// the wspush_fd_budget metric all come from Split.
//
//	b := budget.Split(budget.OpenFilesLimit(), budget.Parts{Loops: 2, API: true})
//	maxConns := b.MaxConns()
package budget

import (
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
)

// Parts are the users of descriptors besides WebSocket connections.
type Parts struct {
	// Loops is the number of event loops. Zero counts as one.
	Loops int
	// API says there is an HTTP API listener; APIMaxConns caps its
	// connections, zero meaning DefaultAPIMaxConns of the limit.
	API         bool
	APIMaxConns int
	// Webhook is the webhook's connections, zero without a webhook.
	Webhook int
	// Redis is the Redis pool's size, zero on a single node.
	Redis int
}

// Budget is the open-files limit split between its users.
type Budget struct {
	Limit, Fixed, API, Webhook, Redis, Burst, WS int
}

// Split splits the open-files limit limit between p and the WebSocket
// connections.
func Split(limit int, p Parts) Budget {
	b := Budget{Limit: limit, Fixed: 64 + 2*max(p.Loops, 1)}
	if p.API {
		b.API = p.APIMaxConns
		if b.API <= 0 {
			b.API = DefaultAPIMaxConns(limit)
		}
	}
	if p.Webhook > 0 {
		b.Webhook = p.Webhook
	}
	if p.Redis > 0 {
		// Its subscriber connection, a DNS lookup and a connection being
		// replaced.
		b.Redis = p.Redis + 4
	}
	b.Burst = min(somaxconn(), max(64, limit/16))
	// The API's one more: the connection accepted to be answered 503.
	b.WS = limit - b.Fixed - (b.API + min(b.API, 1)) - b.Webhook - b.Redis - b.Burst
	return b
}

// MaxConns is the upgraded-connection cap when none is configured: what
// the limit allows (DefaultMaxConns), within the WebSocket share less a
// sixteenth for handshakes in progress. At least 1.
func (b Budget) MaxConns() int {
	return max(min(defaultMaxConns(b.Limit), b.WS-b.WS/16), 1)
}

// Shares are the budget's parts by the names of the wspush_fd_budget
// metric's share label.
func (b Budget) Shares() map[string]int {
	return map[string]int{"limit": b.Limit, "fixed": b.Fixed, "api": b.API, "webhook": b.Webhook,
		"redis": b.Redis, "burst": b.Burst, "websocket": b.WS}
}

// Reserve is the number of descriptors kept out of a connection budget of
// limit for everything that is not a WebSocket: listeners, the epoll and
// event fds of each loop, API clients, Redis, logs.
func Reserve(limit int) int {
	return max(limit/50, 128)
}

// defaultMaxConns is the limit minus twice the reserve: the ceiling of
// any connection cap derived from limit.
func defaultMaxConns(limit int) int {
	return max(limit-2*Reserve(limit), 1)
}

// DefaultMaxConns derives a connection cap from the process's open-files
// limit alone: the limit minus a reserve for listeners, event loops, API
// clients and handshakes still in progress. Budget.MaxConns refines it
// with what else the configuration holds.
func DefaultMaxConns() int { return defaultMaxConns(OpenFilesLimit()) }

// DefaultAPIMaxConns is the API's connection cap for an open-files limit:
// a sixteenth of it, from 16 to 1024. A backend needs a few connections
// per process that calls the API.
func DefaultAPIMaxConns(limit int) int {
	return min(max(limit/16, 16), 1024)
}

// OpenFilesLimit is the process's open-files limit (RLIMIT_NOFILE).
func OpenFilesLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 1 << 20
	}
	return int(rl.Cur)
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

var descShare = prometheus.NewDesc("wspush_fd_budget",
	"The open-files limit split between its users (docs/security.md#descriptors).", []string{"share"}, nil)

// Collector exports the budget as wspush_fd_budget, one gauge per share.
func (b Budget) Collector() prometheus.Collector { return collector(b) }

type collector Budget

// Describe implements prometheus.Collector.
func (c collector) Describe(ch chan<- *prometheus.Desc) { ch <- descShare }

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	for share, v := range Budget(c).Shares() {
		ch <- prometheus.MustNewConstMetric(descShare, prometheus.GaugeValue, float64(v), share)
	}
}

package wire

import (
	"time"

	"github.com/wspush/wspush/server/internal/history"
)

// Delivery is what a push to users did on one node: how many connections
// it was written to, and which users have a connection there.
type Delivery struct {
	Delivered int
	Online    []string
	Offline   []string
}

// Stats is a snapshot of a server's counters, as GET /v1/stats reports
// them. Counters marked "ever" only grow; the others are current values.
type Stats struct {
	Connections      int64   `json:"connections"`       // upgraded connections open now
	Users            int     `json:"users"`             // users with at least one connection
	Rooms            int     `json:"rooms"`             // rooms with at least one member
	MessagesIn       int64   `json:"messages_in"`       // data messages received, ever
	MessagesOut      int64   `json:"messages_out"`      // pushes written to connections, ever
	BytesIn          int64   `json:"bytes_in"`          // WebSocket bytes read after upgrades, ever
	BytesOut         int64   `json:"bytes_out"`         // bytes written, handshakes included, ever
	Upgrades         int64   `json:"upgrades"`          // successful upgrades, ever
	UpgradesRejected int64   `json:"upgrades_rejected"` // refused upgrades, ever
	RSSBytes         int64   `json:"rss_bytes"`         // resident memory of the process
	Goroutines       int     `json:"goroutines"`
	UptimeSeconds    float64 `json:"uptime_seconds"`
	Draining         bool    `json:"draining"` // shutting down: new upgrades are refused
	// Auth is how connections are identified: "jwt", "development" (they
	// name their user with ?user=: see docs/security.md) or "echo".
	Auth string `json:"auth"`
	// APIConns are the HTTP API's open connections; APIConnsRefused were
	// answered 503 at --api-max-conns, ever.
	APIConns        int   `json:"api_conns"`
	APIConnsRefused int64 `json:"api_conns_refused"`
	// AcceptsRefused are TCP connections refused at the descriptor budget
	// of WebSocket connections (503), ever.
	AcceptsRefused int64 `json:"accepts_refused"`
	// History is what a single node's history holds, with --history-size
	// and --history-ttl; nil otherwise (in a cluster it is in Redis).
	History *history.Stats `json:"history,omitempty"`
	// Cluster is the whole cluster's view, with --redis; nil otherwise.
	Cluster *ClusterStats `json:"cluster,omitempty"`
}

// ClusterStats is what GET /v1/stats adds in a cluster.
type ClusterStats struct {
	Node        string `json:"node"`
	Redis       string `json:"redis"` // "up" or "down"
	Nodes       int    `json:"nodes"` // nodes alive, this one included
	Connections int64  `json:"connections"`
	// Users sums each node's users: a user connected to two nodes counts twice.
	Users       int64 `json:"users"`
	Published   int64 `json:"published"`   // by this node, ever
	Received    int64 `json:"received"`    // by this node, ever
	Unavailable int64 `json:"unavailable"` // messages this node refused because Redis was unavailable, ever
	// NodeList is every node alive, as its last heartbeat said, by name.
	NodeList []NodeStat `json:"node_list,omitempty"`
}

// NodeStat is what one node of a cluster says of itself in its heartbeat
// (once a second), for the operator console's overview.
type NodeStat struct {
	Node          string  `json:"node"`
	Version       string  `json:"version,omitempty"`
	UptimeSeconds float64 `json:"uptime_seconds,omitempty"`
	Connections   int64   `json:"connections"`
	Users         int64   `json:"users"`
	Rooms         int64   `json:"rooms,omitempty"`
	MessagesIn    int64   `json:"messages_in,omitempty"`  // ever
	MessagesOut   int64   `json:"messages_out,omitempty"` // ever
	RSSBytes      int64   `json:"rss_bytes,omitempty"`
	// RedisMs is the node's last heartbeat round trip to Redis.
	RedisMs float64 `json:"redis_ms,omitempty"`
	// Seen is when Redis got the node's last heartbeat.
	Seen time.Time `json:"seen"`
}

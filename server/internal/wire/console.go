package wire

import (
	"errors"
	"time"
)

// ConnInfo is what the operator console (and its JSON API) shows of one
// connection from the engine's directory of connections: who, since when,
// from where, with what.
type ConnInfo struct {
	ID   uint64 `json:"id"`
	User string `json:"user"`
	Node string `json:"node,omitempty"`
	// Ref is the id qualified by the node, unique in the cluster
	// ("c123@node-a"), as the console's API shows and takes it.
	Ref         string    `json:"ref,omitempty"`
	Remote      string    `json:"remote"`
	IP          string    `json:"ip,omitempty"` // X-Real-IP from a trusted proxy
	Since       time.Time `json:"since"`
	Compression bool      `json:"compression"`
	Platform    string    `json:"platform,omitempty"` // ?platform= of the upgrade, if the client sent one
	SDK         string    `json:"sdk,omitempty"`      // ?sdk= of the upgrade
	Loop        int       `json:"loop"`
}

// ConnDetail is a connection's state as its event loop sees it.
type ConnDetail struct {
	ConnInfo
	Rooms        []string  `json:"rooms"`
	QueuedBytes  int64     `json:"queued_bytes"`  // gnet's outbound buffer and the connection's lag
	LagBytes     int64     `json:"lag_bytes"`     // frames waiting beyond gnet's share
	LastActivity time.Time `json:"last_activity"` // the last inbound bytes, to the 100 ms tick
	RateTokens   float64   `json:"rate_tokens"`   // what is left of the --max-rate bucket
	Resuming     bool      `json:"resuming"`
}

// ClosedConn is one recently closed connection, from each node's bounded
// ring of them.
type ClosedConn struct {
	ConnInfo
	Closed time.Time `json:"closed"`
	// Reason is the wire.CloseReason's name; Code the disconnect code
	// (4000-4999) the server sent, and Close the close frame's code, when
	// the server closed it on purpose (0 otherwise).
	Reason string `json:"reason"`
	Code   int    `json:"code,omitempty"`
	Close  int    `json:"close,omitempty"`
	Detail string `json:"detail,omitempty"` // the reason given with a kick, if any
}

// Queued is one connection in a worst-first view of queued bytes.
type Queued struct {
	ID          uint64 `json:"id"`
	User        string `json:"user"`
	QueuedBytes int64  `json:"queued_bytes"`
	LagBytes    int64  `json:"lag_bytes"`
}

// ConnQuery asks the directory for one page of connections.
type ConnQuery struct {
	// Prefix keeps the users whose id starts with it (the B-tree's order,
	// no scan). Empty: every user.
	Prefix string
	// Oldest orders the page by connection id, oldest first, instead of
	// by user.
	Oldest bool
	// Cursor is a page's Next, to go on from; empty: from the start.
	Cursor string
	// Limit caps the page; 0 means 50; at most the engine's MaxPage.
	Limit int
	// Exact filters; empty matches all. Room keeps the connections of
	// the users in that room on the node (its roster).
	IP, Platform, SDK, Room string
	// Compression: "on", "off" or "" for either.
	Compression string
	// Loop: an event loop's index, or -1 for any.
	Loop int
	// Node keeps one node's connections, in a cluster-wide page ("" for
	// every node); a node's own directory does not look at it.
	Node string
}

// ConnPage is one page of the directory.
type ConnPage struct {
	Conns []ConnInfo `json:"connections"`
	// Next is the cursor of the page after; empty when there is none.
	Next string `json:"next,omitempty"`
	// Scanned is how many entries the page examined; Partial says the
	// page stopped at the engine's MaxPageScan before it was full (go on from Next).
	Scanned int  `json:"scanned"`
	Partial bool `json:"partial,omitempty"`
	// Total is the directory's size, Taken when the page was read.
	Total int       `json:"total"`
	Taken time.Time `json:"taken"`
	// Missing names the nodes of the cluster that did not answer in
	// time: their connections are not in the page (cluster-wide pages).
	Missing []string `json:"missing"`
}

// ErrCursor is a page's cursor that is not a Next as it came.
var ErrCursor = errors.New("cursor: pass a page's next as it came")

// ErrNoConn is a connection id that is not connected on this node.
var ErrNoConn = errors.New("no such connection on this node")

// ErrNoAnswer is a node of the cluster that did not answer an operator's
// ask in time.
var ErrNoAnswer = errors.New("the node did not answer in time")

// WebhookFailure is one webhook request that did not deliver its batch:
// an answer other than 2xx, or no answer.
type WebhookFailure struct {
	T       time.Time `json:"t"`
	Status  int       `json:"status,omitempty"` // the HTTP status; 0 for no answer
	Error   string    `json:"error,omitempty"`  // why there was no answer
	Events  int       `json:"events"`           // the batch's events
	Attempt int       `json:"attempt"`          // 1 for the first try
	Final   bool      `json:"final"`            // no retry follows: the events are lost
}

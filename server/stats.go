package server

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/wspush/wspush/server/internal/cluster"
	"github.com/wspush/wspush/server/internal/history"
)

// Stats is a snapshot of the server's counters, as GET /v1/stats reports
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
type ClusterStats = cluster.Stats

// Stats reads the server's counters. It may be called from any goroutine;
// it reads atomics and never waits for the event loops, so the numbers of
// different fields may be a few moments apart.
func (s *Server) Stats() Stats {
	k := s.eng.Counters()
	st := Stats{
		Connections: k.Conns,
		Users:       k.Users,
		Rooms:       k.Rooms,
		MessagesIn:  k.MessagesIn,
		MessagesOut: k.MessagesOut,
		BytesIn:     k.BytesIn,
		BytesOut:    k.BytesOut,
		Upgrades:    k.Upgrades,
		RSSBytes:    rss(),
		Goroutines:  runtime.NumGoroutine(),
		// Whole milliseconds: enough for a dashboard, and stable to print.
		UptimeSeconds:  float64(time.Since(s.start).Milliseconds()) / 1000,
		Draining:       k.Draining,
		Auth:           s.cfg.AuthMode(),
		APIConns:       s.apiConns.count(),
		AcceptsRefused: k.AcceptsRefused,
	}
	if s.apiConns != nil {
		st.APIConnsRefused = s.apiConns.refused.Load()
	}
	if s.cl != nil {
		st.Cluster = s.cl.Stats()
	}
	if s.hist != nil {
		hs := s.hist.Stats()
		st.History = &hs
	}
	for _, n := range k.Rejected {
		st.UpgradesRejected += n
	}
	return st
}

// rss is the process's resident set size in bytes: VmRSS from
// /proc/self/status where there is one (Linux), else the memory the Go
// runtime has obtained from the system, which is an upper bound of what
// the heap and stacks hold.
func rss() int64 {
	if n, ok := procRSS(); ok {
		return n
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.Sys)
}

// procRSS reads the "VmRSS:   12345 kB" line of /proc/self/status.
func procRSS() (int64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:"))
		if !ok {
			continue
		}
		kb, unit, _ := bytes.Cut(bytes.TrimSpace(rest), []byte(" "))
		n, err := strconv.ParseInt(string(kb), 10, 64)
		if err != nil || string(bytes.TrimSpace(unit)) != "kB" {
			return 0, false
		}
		return n << 10, true
	}
	return 0, false
}

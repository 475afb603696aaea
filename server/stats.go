package server

import (
	"runtime"
	"time"

	"github.com/wspush/wspush/server/internal/wire"
	"github.com/wspush/wspush/server/procfs"
)

// Stats is a snapshot of the server's counters, as GET /v1/stats reports
// them. Counters marked "ever" only grow; the others are current values.
type Stats = wire.Stats

// ClusterStats is what GET /v1/stats adds in a cluster.
type ClusterStats = wire.ClusterStats

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
		UptimeSeconds:   float64(time.Since(s.start).Milliseconds()) / 1000,
		Draining:        k.Draining,
		Auth:            s.cfg.AuthMode(),
		APIConns:        s.api.Conns(),
		APIConnsRefused: s.api.Refused(),
		AcceptsRefused:  k.AcceptsRefused,
	}
	s.b.Report(&st)
	for _, n := range k.Rejected {
		st.UpgradesRejected += n
	}
	return st
}

// rss is the process's resident set size in bytes: VmRSS where there is a
// /proc (Linux), else the memory the Go runtime has obtained from the
// system, which is an upper bound of what the heap and stacks hold.
func rss() int64 {
	if st, err := procfs.ReadStatus("self"); err == nil {
		return st.RSS
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.Sys)
}

// nodeStat is what this node's heartbeat says of it in a cluster
// (wire.NodeStat), for the console's list of nodes. It reads atomics and
// /proc, never the loops.
func (s *Server) nodeStat() wire.NodeStat {
	k := s.eng.Counters()
	return wire.NodeStat{Version: s.cfg.Console.Version, UptimeSeconds: float64(time.Since(s.start).Milliseconds()) / 1000,
		Connections: k.Conns, Users: int64(k.Users), Rooms: int64(k.Rooms), MessagesIn: k.MessagesIn,
		MessagesOut: k.MessagesOut, RSSBytes: rss()}
}

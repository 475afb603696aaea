package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// SchemaVersion is the version of Result's JSON form. Fields are only ever
// added; a change of meaning bumps it.
const SchemaVersion = 1

// Result is what a run measured. Its JSON form (--json) is the tool's
// machine interface: see docs/benchmarks.md for every field.
type Result struct {
	Schema    int              `json:"schema"`
	Mode      string           `json:"mode"`
	URL       string           `json:"url"`
	Workers   int              `json:"workers"`
	Elapsed   float64          `json:"elapsed_s"`
	Conns     ConnStats        `json:"conns"`
	Failures  map[string]int64 `json:"failures"`
	Messages  MessageStats     `json:"messages"`
	Handshake *Latency         `json:"handshake,omitempty"`
	Latency   *Latency         `json:"latency,omitempty"`
	API       *APIStats        `json:"api,omitempty"`
	Broadcast *BroadcastStats  `json:"broadcast,omitempty"`
	Server    *ServerStats     `json:"server,omitempty"`
	Bench     BenchStats       `json:"bench"`
	Errors    int64            `json:"errors"`
	MaxErrors int64            `json:"max_errors"`
	Pass      bool             `json:"pass"`
	Notes     []string         `json:"notes,omitempty"`

	// run is what the HTML report draws beyond the JSON: the settings,
	// the timeline and the whole latency histograms. Nil for a Result
	// read back from JSON.
	run *runInfo
}

// runInfo is a run's settings and what it sampled, for WriteReport.
type runInfo struct {
	cfg                Config
	start              time.Time
	timeline           *timeline
	latency, handshake *hdrhistogram.Histogram
	lastReceiver       *hdrhistogram.Histogram
}

// ConnStats counts connections.
type ConnStats struct {
	Target   int     `json:"target"`            // --conns
	Upgraded int64   `json:"upgraded"`          // upgrades that succeeded
	Failed   int64   `json:"failed"`            // dials or upgrades that failed
	Dropped  int64   `json:"dropped"`           // ended by the server or the network before the close phase
	OpenS    float64 `json:"open_s"`            // first dial to last upgrade, slowest worker
	PerSec   float64 `json:"upgrades_per_s"`    // Upgraded / OpenS
	Deflate  int64   `json:"deflate,omitempty"` // --compression: connections that negotiated permessage-deflate
}

// MessageStats counts data messages.
type MessageStats struct {
	Size     int     `json:"size,omitempty"` // echo payload bytes
	Sent     int64   `json:"sent"`           // echo messages sent
	Received int64   `json:"received"`       // echoes, pushes (the first copy only) or broadcast copies that arrived
	Other    int64   `json:"other"`          // other messages (welcome, ...)
	PerSec   float64 `json:"received_per_s"` // Received over the load phase
	// Compressed counts the Received that came compressed (--compression).
	Compressed int64 `json:"compressed,omitempty"`
	// WireBytes is what the Received took on the wire, frame headers
	// included: with WireBytes/Received, the cost of one message.
	WireBytes int64 `json:"wire_bytes,omitempty"`
}

// APIStats counts the HTTP API calls of push and broadcast.
type APIStats struct {
	Calls     int64   `json:"calls"`
	Failed    int64   `json:"failed"`
	PerSec    float64 `json:"calls_per_s"`
	Delivered int64   `json:"delivered"` // sum of the answers' "delivered"
	Lost      int64   `json:"lost"`      // promised (Expected) but never arrived
	// Push only, from the 2xx answers: the users listed "online", calls
	// that reached nobody ("delivered" 0), and the users listed "offline"
	// or "unknown".
	Online  int64 `json:"online,omitempty"`
	Empty   int64 `json:"empty,omitempty"`
	Offline int64 `json:"offline,omitempty"`
	Unknown int64 `json:"unknown,omitempty"`
}

// Expected is the arrivals the API promised: Delivered, or in push mode
// Online if that is more. Each bench user has one connection, so an online
// user is one arrival; in a cluster Delivered counts nodes, and a user whose
// node will catch it up is online but not delivered.
func (s *APIStats) Expected() int64 { return max(s.Delivered, s.Online) }

// BroadcastStats is the fan-out of broadcast mode.
type BroadcastStats struct {
	Count     int   `json:"count"`
	Receivers int64 `json:"receivers"` // copies that arrived, over all broadcasts
	// LastReceiver is the distribution, over broadcasts, of the time until
	// the last receiver had it.
	LastReceiver *Latency `json:"last_receiver,omitempty"`
}

// ServerStats is the server's memory and CPU, when known.
type ServerStats struct {
	Source       string  `json:"source"` // "proc" (--server-pid) or "api" (GET /v1/stats)
	PID          int     `json:"pid,omitempty"`
	RSSBefore    int64   `json:"rss_before_bytes"`
	RSSAfter     int64   `json:"rss_after_bytes"`
	BytesPerConn float64 `json:"bytes_per_conn"`
	CPUS         float64 `json:"cpu_s,omitempty"` // --server-pid only: CPU seconds during the run
	CPUPct       float64 `json:"cpu_pct,omitempty"`
}

// BenchStats is the bench's own cost, summed over its processes.
type BenchStats struct {
	Processes    int     `json:"processes"`
	RSS          int64   `json:"rss_bytes"`      // at the end of the load phase
	PeakRSS      int64   `json:"peak_rss_bytes"` // sum of each process's peak
	BytesPerConn float64 `json:"bytes_per_conn"` // RSS / upgraded
	CPUUser      float64 `json:"cpu_user_s"`
	CPUSys       float64 `json:"cpu_sys_s"`
	CPUPct       float64 `json:"cpu_pct"` // (user+sys) / elapsed, 100 = one core
}

// merge folds the workers' partial results into r.
func (r *Result) merge(parts []partial) {
	var hs, lat []*hdrhistogram.Snapshot
	var bc []bcastCount
	if r.Failures == nil {
		r.Failures = map[string]int64{}
	}
	for _, p := range parts {
		r.Conns.Upgraded += p.Upgraded
		r.Conns.Failed += p.Failed
		r.Conns.Dropped += p.Dropped
		r.Conns.OpenS = max(r.Conns.OpenS, p.OpenSeconds)
		r.Messages.Sent += p.Sent
		r.Messages.Received += p.Received
		r.Messages.Other += p.Other
		r.Messages.Compressed += p.Compressed
		r.Messages.WireBytes += p.WireBytes
		r.Conns.Deflate += p.Deflate
		for k, v := range p.Failures {
			r.Failures[k] += v
		}
		hs = append(hs, p.Handshake)
		lat = append(lat, p.Latency)
		for i, b := range p.Bcast {
			if i == len(bc) {
				bc = append(bc, bcastCount{})
			}
			bc[i].N += b.N
			bc[i].MaxUS = max(bc[i].MaxUS, b.MaxUS)
		}
		r.Bench.add(p.Self)
	}
	if r.Conns.OpenS > 0 {
		r.Conns.PerSec = float64(r.Conns.Upgraded) / r.Conns.OpenS
	}
	hh, lh := mergeSnapshots(hs...), mergeSnapshots(lat...)
	r.Handshake = summarize(hh)
	r.Latency = summarize(lh)
	if r.run != nil {
		r.run.handshake, r.run.latency = hh, lh
	}
	if r.Broadcast != nil {
		last := hdrhistogram.New(histMin, histMax, histDigits)
		if r.run != nil {
			r.run.lastReceiver = last
		}
		for _, b := range bc {
			r.Broadcast.Receivers += b.N
			if b.N > 0 {
				_ = last.RecordValue(min(max(b.MaxUS, histMin), histMax))
			}
		}
		r.Broadcast.LastReceiver = summarize(last)
	}
}

func (b *BenchStats) add(s procStats) {
	b.Processes++
	b.RSS += s.RSS
	b.PeakRSS += s.PeakRSS
	b.CPUUser += s.CPUUser
	b.CPUSys += s.CPUSys
}

// finish computes the totals that depend on everything else.
func (r *Result) finish() {
	r.Errors = 0
	for _, v := range r.Failures {
		r.Errors += v
	}
	if r.Conns.Upgraded > 0 {
		r.Bench.BytesPerConn = float64(r.Bench.RSS) / float64(r.Conns.Upgraded)
	}
	if r.Elapsed > 0 {
		r.Bench.CPUPct = 100 * (r.Bench.CPUUser + r.Bench.CPUSys) / r.Elapsed
	}
	r.Pass = r.Errors <= r.MaxErrors
}

// WriteJSON writes r as one indented JSON document.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes r as a table for people.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, f string, a ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(f, a...)) }
	row("mode", "%s  %s  (%d worker process(es), %.1fs)", r.Mode, r.URL, r.Workers, r.Elapsed)
	row("connections", "%d of %d upgraded, %d failed, %d dropped", r.Conns.Upgraded, r.Conns.Target, r.Conns.Failed, r.Conns.Dropped)
	if r.Mode == ModeConnect {
		row("upgrades/s", "%.0f  (over %.2fs)", r.Conns.PerSec, r.Conns.OpenS)
	}
	if r.Handshake != nil {
		row("upgrade latency", "%s", r.Handshake)
	}
	switch r.Mode {
	case ModeEcho:
		row("messages", "%d sent, %d echoed, %d bytes each", r.Messages.Sent, r.Messages.Received, r.Messages.Size)
		row("echoes/s", "%.0f", r.Messages.PerSec)
	case ModePush, ModeBroadcast:
		if r.API != nil {
			row("API calls", "%d (%.1f/s), %d failed, %d delivered, %d lost", r.API.Calls, r.API.PerSec, r.API.Failed, r.API.Delivered, r.API.Lost)
			if r.API.Online+r.API.Empty+r.API.Offline+r.API.Unknown > 0 {
				row("API answers", "users online %d, offline %d, unknown %d; %d calls reached nobody", r.API.Online, r.API.Offline, r.API.Unknown, r.API.Empty)
			}
		}
		row("arrivals", "%d (%.0f/s)", r.Messages.Received, r.Messages.PerSec)
	}
	if r.Messages.Received > 0 && r.Messages.WireBytes > 0 {
		row("on the wire", "%.0f bytes per message, frame header included", float64(r.Messages.WireBytes)/float64(r.Messages.Received))
	}
	if r.Conns.Deflate > 0 {
		row("compression", "%d connections negotiated permessage-deflate; %d of %d messages arrived compressed",
			r.Conns.Deflate, r.Messages.Compressed, r.Messages.Received)
	}
	if r.Latency != nil {
		row("latency", "%s", r.Latency)
	}
	if r.Broadcast != nil && r.Broadcast.LastReceiver != nil {
		row("last receiver", "%s", r.Broadcast.LastReceiver)
	}
	if s := r.Server; s != nil {
		row("server RSS", "%s before, %s after, %.0f B/conn (%s)", mib(s.RSSBefore), mib(s.RSSAfter), s.BytesPerConn, s.Source)
		if s.CPUS > 0 {
			row("server CPU", "%.2fs (%.0f%% of a core)", s.CPUS, s.CPUPct)
		}
	}
	row("bench", "RSS %s (%.0f B/conn), CPU %.2fs user %.2fs sys (%.0f%% of a core), %d process(es)",
		mib(r.Bench.RSS), r.Bench.BytesPerConn, r.Bench.CPUUser, r.Bench.CPUSys, r.Bench.CPUPct, r.Bench.Processes)
	causes := slices.Sorted(maps.Keys(r.Failures))
	var fs []string
	for _, k := range causes {
		fs = append(fs, fmt.Sprintf("%s=%d", k, r.Failures[k]))
	}
	verdict := "PASS"
	if !r.Pass {
		verdict = "FAIL"
	}
	row("errors", "%d (max %d) %s %s", r.Errors, r.MaxErrors, verdict, strings.Join(fs, " "))
	for _, n := range r.Notes {
		row("note", "%s", n)
	}
	return tw.Flush()
}

// String formats a latency summary on one line.
func (l *Latency) String() string {
	return fmt.Sprintf("p50 %.3fms  p90 %.3fms  p99 %.3fms  p99.9 %.3fms  max %.3fms  (n=%d)",
		l.P50, l.P90, l.P99, l.P999, l.Max, l.Count)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

package bench

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"runtime"
	"time"
)

// Modes of a run.
const (
	ModeConnect   = "connect"   // upgrades per second
	ModeIdle      = "idle"      // hold connections, measure the server's memory
	ModeEcho      = "echo"      // round trips against an echo server
	ModePush      = "push"      // POST /v1/push to one user, time to arrival
	ModeBroadcast = "broadcast" // POST /v1/broadcast, time to every receiver
)

// Defaults for the zero values of Config.
const (
	DefaultURL         = "ws://127.0.0.1:8080/ws"
	DefaultAPI         = "http://127.0.0.1:8081"
	DefaultConns       = 1000
	DefaultConcurrency = 64
	DefaultSize        = 64
	DefaultHold        = 10 * time.Second
	DefaultDuration    = 10 * time.Second
	DefaultCount       = 10
	DefaultDialTimeout = 10 * time.Second
	DefaultGrace       = 5 * time.Second
	DefaultTimeout     = 5 * time.Minute
)

// Config configures a run. The zero value of each field but Mode works: each
// documents its default.
type Config struct {
	// Mode is one of ModeConnect, ModeIdle, ModeEcho, ModePush, ModeBroadcast.
	Mode string `json:"mode"`
	// URL is the WebSocket endpoint, or several separated by commas (the
	// nodes of a cluster): connection N dials the (N mod count)th. Empty
	// means DefaultURL. In push and broadcast modes each connection adds
	// user=bench-N to its query.
	URL string `json:"url"`
	// Conns is the number of connections to open. Zero means 1000.
	Conns int `json:"conns"`
	// Ramp caps new connections per second while opening; zero means as fast
	// as Concurrency dials allow. In connect mode Rate sets it instead.
	Ramp float64 `json:"ramp"`
	// Rate is upgrades per second in connect mode, API calls per second in
	// push and broadcast modes. Zero means flat out (connect), 100 (push)
	// or 2 (broadcast).
	Rate float64 `json:"rate"`
	// Concurrency caps dials and upgrades in flight per process. Zero means 64.
	Concurrency int `json:"concurrency"`
	// Size is the echo message size in bytes. Zero means 64.
	Size int `json:"size"`
	// Hold is how long idle mode holds the connections. Zero means 10s.
	Hold time.Duration `json:"hold"`
	// Duration bounds the load phase of echo and push, and the open phase
	// of connect. Zero means 10s.
	Duration time.Duration `json:"duration"`
	// Count bounds the API calls of push (zero: only Duration bounds them)
	// and of broadcast (zero means 10).
	Count int `json:"count"`
	// Batch is how many users each push call names (distinct, at random).
	// Zero means 1.
	Batch int `json:"batch,omitempty"`
	// API is the server's HTTP API base URL, or several separated by commas
	// (the nodes of a cluster): push and broadcast make API call N to the
	// (N mod count)th. Idle mode asks the first for /v1/stats. Empty means
	// DefaultAPI.
	API string `json:"api"`
	// APIKey is sent as "Authorization: Bearer KEY" when set.
	APIKey string `json:"-"`
	// ServerPID, when set, is read from /proc for the server's RSS and CPU;
	// otherwise idle mode asks GET /v1/stats on API for rss_bytes.
	ServerPID int `json:"server_pid"`
	// Workers is the number of bench processes holding connections. Zero
	// or one means this process alone.
	Workers int `json:"workers"`
	// SourceIPs are the local addresses connections are dialed from, in
	// turn. Empty lets the kernel choose.
	SourceIPs []netip.Addr `json:"source_ips"`
	// Loops is the number of gnet event loops per process. Zero means the
	// CPUs shared out among the worker processes, at least one each: the
	// bench's readers together take no more threads than there are cores,
	// so that a server on the same machine is not preempted by more of
	// them than it must be (docs/benchmarks.md).
	Loops int `json:"loops"`
	// DialTimeout bounds one dial and upgrade. Zero means 10s.
	DialTimeout time.Duration `json:"dial_timeout"`
	// Grace is how long push and broadcast wait for the last arrivals and
	// how long closing waits for close frames to be answered. Zero means 5s.
	Grace time.Duration `json:"grace"`
	// Timeout stops the whole run, whatever phase it is in. Zero means 5m.
	Timeout time.Duration `json:"timeout"`
	// MaxErrors is the number of errors a run may have and still pass.
	MaxErrors int64 `json:"max_errors"`
	// Command re-executes this program as a worker: Command[0] is run with
	// Command[1:] followed by the worker's flags. Empty means os.Args[0]
	// with "bench".
	// Compression offers permessage-deflate (RFC 7692) as browsers do and
	// inflates what the server sends compressed.
	Compression bool `json:"compression,omitempty"`
	// Payload adds this many bytes of JSON filler (an "items" array, as
	// compressible as real JSON) to the data of each push and broadcast.
	Payload int      `json:"payload,omitempty"`
	Command []string `json:"-"`
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.API == "" {
		c.API = DefaultAPI
	}
	if c.Conns <= 0 {
		c.Conns = DefaultConns
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Size <= 0 {
		c.Size = DefaultSize
	}
	if c.Hold <= 0 {
		c.Hold = DefaultHold
	}
	if c.Duration <= 0 {
		c.Duration = DefaultDuration
	}
	if c.Batch <= 0 {
		c.Batch = 1
	}
	if c.Batch > c.Conns && c.Conns > 0 {
		c.Batch = c.Conns
	}
	if c.Mode == ModeBroadcast && c.Count <= 0 {
		c.Count = DefaultCount
	}
	if c.Rate <= 0 {
		switch c.Mode {
		case ModePush:
			c.Rate = 100
		case ModeBroadcast:
			c.Rate = 2
		}
	}
	if c.Mode == ModeConnect {
		c.Ramp = c.Rate
	}
	if c.Workers <= 0 {
		c.Workers = 1
	}
	if c.Loops <= 0 {
		c.Loops = max(1, runtime.NumCPU()/c.Workers)
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.Grace <= 0 {
		c.Grace = DefaultGrace
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// check reports the first setting that cannot work.
func (c Config) check() error {
	switch c.Mode {
	case ModeConnect, ModeIdle, ModeEcho, ModePush, ModeBroadcast:
	default:
		return fmt.Errorf("%w %q: want connect, idle, echo, push or broadcast", ErrMode, c.Mode)
	}
	urls := splitURLs(c.URL)
	if len(urls) == 0 {
		return errors.New("bench: --url: no endpoint")
	}
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil {
			return fmt.Errorf("bench: --url: %w", err)
		}
		if u.Scheme != "ws" {
			return fmt.Errorf("bench: --url %q: only ws:// is supported (TLS ends in front of wspush)", s)
		}
	}
	if c.Mode == ModePush || c.Mode == ModeBroadcast || c.Mode == ModeIdle {
		apis := splitURLs(c.API)
		if len(apis) == 0 {
			return errors.New("bench: --api: no URL")
		}
		for _, s := range apis {
			if _, err := url.Parse(s); err != nil {
				return fmt.Errorf("bench: --api: %w", err)
			}
		}
	}
	if c.Workers > c.Conns {
		return fmt.Errorf("bench: --workers %d is more than --conns %d", c.Workers, c.Conns)
	}
	if c.Size > 16<<20 {
		return fmt.Errorf("bench: --size %d is over 16 MiB", c.Size)
	}
	return nil
}

// share returns the number of connections worker i of n holds, and the
// index of its first connection: the remainder goes to the first workers.
func share(total, n, i int) (count, offset int) {
	count = total / n
	rem := total % n
	offset = i*count + min(i, rem)
	if i < rem {
		count++
	}
	return count, offset
}

package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/term"
)

// Main runs `wspush bench MODE [flags]` with args after "bench" and
// returns the error that decides the exit status: nil when the run passed,
// one wrapping ErrTooManyErr when its errors passed --max-errors. It owns
// the bench's flags and signals, since main.go only dispatches to it.
func Main(args []string, stdout, stderr *os.File) error {
	cfg, opts, err := parseFlags(args, os.Getenv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		fmt.Fprintln(stderr, usage)
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	full := cfg.withDefaults()
	// The last resort behind Config.Timeout: whatever hangs, the process
	// ends on its own.
	hard := time.AfterFunc(full.Timeout+full.Grace+30*time.Second, func() {
		fmt.Fprintln(stderr, "wspush bench: hard stop: the run outlived --timeout")
		os.Exit(3)
	})
	defer hard.Stop()

	if opts.worker != "" {
		var spec workerSpec
		if err := json.Unmarshal([]byte(opts.worker), &spec); err != nil {
			return fmt.Errorf("bench: --worker: %w", err)
		}
		return runWorker(ctx, spec, os.Stdin, stdout)
	}

	var obs observer
	if term.IsTerminal(int(stderr.Fd())) {
		obs = newBar(stderr)
	}
	res, err := run(ctx, cfg, obs)
	if err != nil {
		return err
	}
	if opts.json {
		err = res.WriteJSON(stdout)
	} else {
		err = res.WriteTable(stdout)
	}
	if err != nil {
		return err
	}
	if opts.jsonOut != "" {
		if err := writeJSONFile(opts.jsonOut, res); err != nil {
			return err
		}
	}
	if opts.report != "" {
		if err := writeReportFile(opts.report, res); err != nil {
			return err
		}
	}
	if !res.Pass {
		return fmt.Errorf("%w: %d errors, --max-errors %d", ErrTooManyErr, res.Errors, res.MaxErrors)
	}
	return nil
}

const usage = `usage: wspush bench MODE [flags]
MODE: connect | idle | echo | push | broadcast. Run "wspush bench MODE -h" for the flags.`

// cliOpts are the flags that are not part of Config.
type cliOpts struct {
	json    bool
	jsonOut string
	report  string
	worker  string
}

func writeJSONFile(path string, res *Result) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: --json-out: %w", err)
	}
	if err := res.WriteJSON(f); err != nil {
		f.Close()
		return fmt.Errorf("bench: --json-out: %w", err)
	}
	return f.Close()
}

func parseFlags(args []string, getenv func(string) string) (Config, cliOpts, error) {
	var cfg Config
	var opts cliOpts
	if len(args) == 0 || args[0] == "" || args[0][0] == '-' {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			return cfg, opts, flag.ErrHelp
		}
		return cfg, opts, fmt.Errorf("%w: none given", ErrMode)
	}
	cfg.Mode, args = args[0], args[1:]
	fs := flag.NewFlagSet("bench "+cfg.Mode, flag.ContinueOnError)
	fs.StringVar(&cfg.URL, "url", DefaultURL, "WebSocket endpoint, or several comma-separated (a cluster's nodes: connections spread over them in turn); push and broadcast add ?user=bench-N")
	fs.IntVar(&cfg.Conns, "conns", DefaultConns, "connections to open")
	fs.Float64Var(&cfg.Ramp, "ramp", 0, "new connections per second while opening (0: flat out)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "connect: upgrades/s (0: flat out); push: pushes/s (default 100); broadcast: broadcasts/s (default 2)")
	fs.IntVar(&cfg.Concurrency, "concurrency", DefaultConcurrency, "dials and upgrades in flight per process")
	fs.IntVar(&cfg.Size, "size", DefaultSize, "echo message size in bytes")
	fs.DurationVar(&cfg.Hold, "hold", DefaultHold, "idle: how long to hold the connections")
	fs.DurationVar(&cfg.Duration, "duration", DefaultDuration, "connect: longest opening; echo, push: load phase")
	fs.IntVar(&cfg.Count, "count", 0, "push: most pushes (0: --duration only); broadcast: broadcasts (default 10)")
	fs.IntVar(&cfg.Batch, "batch", 1, "push: users named in each API call (distinct, at random)")
	fs.BoolVar(&cfg.Compression, "compression", false, "offer permessage-deflate, as browsers do, and inflate what the server compresses")
	fs.IntVar(&cfg.Payload, "payload", 0, "push, broadcast: bytes of JSON filler added to each message's data (a typical push: 1024)")
	fs.StringVar(&cfg.API, "api", DefaultAPI, "the server's HTTP API, or several comma-separated (a cluster's nodes: push and broadcast calls spread over them in turn; idle asks the first for /v1/stats)")
	fs.StringVar(&cfg.APIKey, "api-key", getenv("WSPUSH_API_KEY"), "API bearer key (default $WSPUSH_API_KEY)")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "server process to read RSS and CPU from /proc")
	fs.IntVar(&cfg.Workers, "workers", 1, "bench processes holding the connections")
	sips := fs.String("source-ips", "", "local source addresses, e.g. 127.0.0.1-127.0.0.20,127.0.1.1")
	fs.IntVar(&cfg.Loops, "loops", 0, "event loops per bench process (0: the CPUs shared out among the workers, at least 1)")
	fs.DurationVar(&cfg.DialTimeout, "dial-timeout", DefaultDialTimeout, "bound on one dial plus upgrade")
	fs.DurationVar(&cfg.Grace, "grace", DefaultGrace, "wait for last arrivals, and for close frames to be answered")
	fs.DurationVar(&cfg.Timeout, "timeout", DefaultTimeout, "hard stop of the whole run")
	fs.Int64Var(&cfg.MaxErrors, "max-errors", 0, "errors allowed before the exit status says failure")
	fs.BoolVar(&opts.json, "json", false, "print the result as JSON (schema in docs/benchmarks.md)")
	fs.StringVar(&opts.jsonOut, "json-out", "", "also write the JSON result to this file")
	fs.StringVar(&opts.report, "report", "", "also write a self-contained HTML report with charts to this file (no network needed to open it)")
	fs.StringVar(&opts.worker, "worker", "", "internal: run as a worker process with this spec")
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stderr)
			fmt.Fprintln(os.Stderr, usage)
			fs.PrintDefaults()
		}
		return cfg, opts, err
	}
	if fs.NArg() > 0 {
		return cfg, opts, fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	}
	var err error
	if cfg.SourceIPs, err = ParseSourceIPs(*sips); err != nil {
		return cfg, opts, err
	}
	if opts.worker == "" {
		if err := cfg.withDefaults().check(); err != nil {
			return cfg, opts, err
		}
	}
	return cfg, opts, nil
}

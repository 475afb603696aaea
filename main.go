// Command wspush is a WebSocket push server for WeChat mini-programs and
// browsers, and the tool that load-tests it.
//
//	wspush serve [flags]       run the server (also what a bare `wspush` runs)
//	wspush version             print the version
//
// Every serve flag can also be set from the environment as WSPUSH_NAME,
// for example WSPUSH_MAX_CONNS=50000 for --max-conns; a flag given on the
// command line wins over the environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/wspush/wspush/bench"
	"github.com/wspush/wspush/client"
	"github.com/wspush/wspush/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	args := os.Args[1:]
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(args)
	case "bench":
		err = bench.Main(args, os.Stdout, os.Stderr)
	case "version":
		printVersion(os.Stdout)
	case "help":
		usage(os.Stdout)
	default:
		usage(os.Stderr)
		os.Exit(2)
	}
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "wspush:", err)
		}
		os.Exit(2)
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  wspush serve [flags]   run the server (also what a bare "wspush" runs)
  wspush bench MODE      load-test a server; MODE: connect | idle | echo | push | broadcast
  wspush version         print the version
Run "wspush serve -h" for the server's flags.
`)
}

func printVersion(w io.Writer) {
	commit := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				commit = s.Value
			}
		}
	}
	fmt.Fprintf(w, "wspush %s (commit %s, %s, %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// serveFlags holds the serve command's settings.
type serveFlags struct {
	cfg       server.Config
	logFormat string
	logLevel  string

	fs          *flag.FlagSet
	config      string // --config: the YAML file applied before env and flags (config.go)
	checkConfig bool   // --check-config: validate, print the effective configuration, exit
}

func parseServe(args []string, getenv func(string) string) (*serveFlags, error) {
	f := &serveFlags{}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&f.cfg.Addr, "addr", server.DefaultAddr, "WebSocket listener; the endpoint is "+server.Path+" (loopback by default: other hosts need --jwt-secret or --insecure)")
	fs.StringVar(&f.cfg.APIAddr, "api-addr", "127.0.0.1:8081", "HTTP API, /metrics and /healthz, host:port (empty: no API)")
	fs.StringVar(&f.cfg.APIKey, "api-key", "", "bearer key the HTTP API requires; needed unless --api-addr is loopback (WSPUSH_API_KEY keeps it out of ps)")
	fs.BoolVar(&f.cfg.Echo, "echo", false, "echo mode: every data message comes back verbatim, no client protocol")
	fs.IntVar(&f.cfg.MaxConns, "max-conns", 0, "connections beyond it get HTTP 503 at the upgrade (0: from the open-files limit)")
	fs.IntVar(&f.cfg.MaxMessage, "max-message", server.DefaultMaxMessage, "largest inbound message in bytes; larger closes with 1009")
	fs.DurationVar(&f.cfg.HandshakeTimeout, "handshake-timeout", server.DefaultHandshakeTimeout, "close connections that have not finished their upgrade by then")
	fs.DurationVar(&f.cfg.PingInterval, "ping-interval", server.DefaultPingInterval, "how often an idle connection is pinged")
	fs.DurationVar(&f.cfg.IdleTimeout, "idle-timeout", server.DefaultIdleTimeout, "no frame at all for this long closes the connection")
	fs.IntVar(&f.cfg.MaxPending, "max-pending", server.DefaultMaxPending, "outbound bytes queued for one connection before it is closed as too slow")
	fs.IntVar(&f.cfg.MaxUserConns, "max-user-conns", 32, "connections one user may hold on this node; a new one past it closes the oldest (disconnect 4504 replaced); -1: no cap")
	fs.StringVar(&f.cfg.ClientSends, "client-sends", "on", "what a client's send to another user does: on (delivered, as its token allows), off (refused) or webhook (to the webhook only)")
	fs.IntVar(&f.cfg.MaxQueue, "max-queue", server.DefaultMaxQueue, "fan-out jobs waiting in one event loop's queue before new ones are refused (API: 503 busy)")
	fs.IntVar(&f.cfg.SendBuffer, "send-buffer", 128<<10, "kernel send buffer per connection (SO_SNDBUF) in bytes; -1: the kernel's autotuning (up to 4 MiB a socket)")
	fs.IntVar(&f.cfg.Loops, "loops", runtime.GOMAXPROCS(0), "event loops (default: the CPUs this process may use)")
	fs.StringVar(&f.cfg.JWTSecret, "jwt-secret", "", "HS256 secret; when set, every connection needs a valid token (sub = user id)")
	fs.Func("origins", "comma-separated Origin patterns allowed for browser clients, e.g. https://*.example.com (default: any)", func(v string) error {
		f.cfg.Origins = nil
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				f.cfg.Origins = append(f.cfg.Origins, o)
			}
		}
		return nil
	})
	fs.StringVar(&f.cfg.ClusterSecret, "cluster-secret", "", "key that signs the control messages nodes send each other through Redis (same on every node; WSPUSH_CLUSTER_SECRET keeps it out of ps)")
	fs.StringVar(&f.cfg.Redis, "redis", "", "redis://host:port/db: join the cluster of nodes sharing that Redis (docs/cluster.md)")
	fs.IntVar(&f.cfg.HistorySize, "history-size", 0, "messages kept per user and per room for clients that resume after a reconnect (0: none)")
	fs.DurationVar(&f.cfg.HistoryTTL, "history-ttl", 0, "how long a kept message stays (0: none kept)")
	fs.Int64Var(&f.cfg.HistoryMaxBytes, "history-max-bytes", server.DefaultHistoryMaxBytes, "memory a single node's history may hold; past it the oldest messages go first")
	fs.DurationVar(&f.cfg.OfflineGrace, "offline-grace", 0, "a user counts as offline only this long after its last connection closed")
	fs.IntVar(&f.cfg.MaxRate, "max-rate", server.DefaultMaxRate, "messages per second one client may send (burst: twice that); past it the client is disconnected; -1: no cap")
	fs.StringVar(&f.logFormat, "log-format", "auto", "log format: text, json, or auto (text on a terminal, json otherwise)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	addDeployFlags(fs, &f.cfg)
	addTrustFlags(fs, &f.cfg)
	addCompressionFlags(fs, &f.cfg)
	fs.StringVar(&f.config, "config", "", "YAML file of flag values (keys: flag names); the environment and flags override it")
	fs.BoolVar(&f.checkConfig, "check-config", false, "validate the configuration, print it in effect and exit: 0 if valid, 2 if not")
	f.fs = fs
	if err := applyConfigFile(fs, configPath(args, getenv)); err != nil {
		return nil, err
	}

	// The environment fills in what the command line leaves unset.
	var envErr error
	fs.VisitAll(func(fl *flag.Flag) {
		name := "WSPUSH_" + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if err := fl.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	return f, nil
}

func newLogger(format, level string, w *os.File) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "auto":
		if term.IsTerminal(int(w.Fd())) {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: want text, json or auto, got %q", format)
}

func serve(args []string) error {
	f, err := parseServe(args, os.Getenv)
	if err != nil {
		return err
	}
	// Refuse a dangerous configuration before anything listens.
	if err := f.cfg.Validate(); err != nil {
		return err
	}
	log, err := newLogger(f.logFormat, f.logLevel, os.Stderr)
	if err != nil {
		return err
	}
	if f.checkConfig {
		return printConfig(os.Stdout, f)
	}
	f.cfg.Logger = log
	if f.cfg.JWTSecret == "" && !f.cfg.Echo {
		// Development mode: the browser chat demo at /demo/ on the API listener.
		f.cfg.Demo = client.Demo
	}
	procs := server.ReserveProcs(f.cfg.Loops, os.Getenv)
	srv := server.New(f.cfg)
	cfg := srv.Config()

	// Signals are caught before the start line is logged: a SIGTERM sent
	// as soon as it appears must drain, not kill the process.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	select {
	case err := <-errc:
		return err
	case <-srv.Ready():
	}
	if cfg.MaxConns > server.DefaultMaxConns() {
		log.Warn("--max-conns is above what the open-files limit allows: raise the limit (ulimit -n, LimitNOFILE) or expect 503s earlier",
			"max_conns", cfg.MaxConns, "fits", server.DefaultMaxConns())
	}
	log.Info("wspush serving",
		"version", version,
		"addr", srv.Addr().String(),
		"endpoint", server.Path,
		"api_addr", addrString(srv.APIAddr()),
		"echo", cfg.Echo,
		"loops", cfg.Loops,
		"gomaxprocs", procs,
		"max_conns", cfg.MaxConns,
		"max_message", cfg.MaxMessage,
		"max_pending", cfg.MaxPending,
		"compression", compressionInForce(cfg),
		"handshake_timeout", cfg.HandshakeTimeout.String(),
		"ping_interval", cfg.PingInterval.String(),
		"idle_timeout", cfg.IdleTimeout.String(),
		"auth", cfg.AuthMode(),
	)

	select {
	case err := <-errc:
		// gnet returns from Run without an error when accept fails fatally.
		if err == nil {
			err = errors.New("the event loops stopped unexpectedly")
		}
		return err
	case s := <-sig:
		log.Info("shutting down: sending 1001 Going Away", "signal", s.String(), "connections", srv.Conns())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return err
	}
	if err := <-errc; err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// addrString is a's address, or "" for none.
func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

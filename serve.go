package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/wspush/wspush/client"
	"github.com/wspush/wspush/server"
)

// Defaults of the logging flags, which only the command has.
const (
	defaultLogFormat = "auto"
	defaultLogLevel  = "info"
)

// newLogger is the logger --log-format and --log-level ask for, writing
// to w.
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

// serve runs the server as args, the environment and the --config file
// say, until SIGINT or SIGTERM. With -h it writes its help and returns
// flag.ErrHelp.
func serve(args []string) error {
	f, err := parseServe(args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		if werr := f.writeHelp(os.Stdout); werr != nil {
			return werr
		}
		return err
	}
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
	typos := f.envTypos(os.Environ())
	if f.checkConfig {
		return printConfig(os.Stdout, f, typos)
	}
	for _, w := range typos {
		log.Warn(w)
	}
	f.cfg.Logger = log
	// The console's configuration page shows what --check-config prints.
	var settings bytes.Buffer
	_ = printConfig(&settings, f, nil)
	f.cfg.Console.Settings, f.cfg.Console.Version = settings.String(), version
	if f.cfg.JWTSecret == "" && !f.cfg.Echo {
		// Development mode: the browser chat demo at /demo/ on the API listener.
		f.cfg.Demo = client.Demo
	}
	f.cfg.Version = version
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

// compressionInForce is the start line's word on compression.
func compressionInForce(cfg server.Config) string {
	if cfg.NoCompression {
		return "off"
	}
	return "permessage-deflate, no context takeover, from " + strconv.Itoa(cfg.CompressionThreshold) + " bytes"
}

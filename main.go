// Command wspush is a WebSocket push server for WeChat mini-programs and
// browsers, and the tool that load-tests it.
//
//	wspush serve [flags]       run the server (also what a bare `wspush` runs)
//	wspush bench MODE [flags]  load-test a server
//	wspush version             print the version
//	wspush help [serve]        print the commands, or serve's flags
//
// Every serve setting comes from the first of: the command line, the
// environment (WSPUSH_MAX_CONNS=50000 for --max-conns), the --config YAML
// file, the built-in default (server.Defaults). flags.go defines them,
// serve.go runs the server, config.go reads the file and checkconfig.go
// prints it back.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/wspush/wspush/bench"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// commands are wspush's commands, for the nearest to a mistyped one.
var commands = []string{"serve", "bench", "version", "help", "hash-password"}

// main dispatches to a command. Help asked for exits 0; a usage error or
// a configuration refused exits 2, after one line on stderr.
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
		if len(args) > 0 && isHelp(args[0]) {
			// bench prints its flags for a mode: wspush bench MODE -h.
			usage(os.Stdout)
			return
		}
		bench.Version = version
		err = bench.Main(args, os.Stdout, os.Stderr)
	case "version":
		printVersion(os.Stdout)
	case "hash-password":
		err = hashPassword(os.Stdin, os.Stdout)
	case "help":
		err = help(args, os.Stdout)
	default:
		err = unknownCommand(cmd)
	}
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wspush:", err)
		os.Exit(2)
	}
}

// isHelp reports whether arg asks for help, as the flag package reads it.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "--h", "-help", "--help":
		return true
	}
	return false
}

// help is `wspush help [serve]`.
func help(args []string, w io.Writer) error {
	if len(args) > 0 && args[0] == "serve" {
		return newServeFlags().writeHelp(w)
	}
	usage(w)
	return nil
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  wspush serve [flags]   run the server (also what a bare "wspush" runs)
  wspush bench MODE      load-test a server; MODE: connect | idle | echo | push | broadcast
  wspush version         print the version
  wspush hash-password   read a password on stdin, print its bcrypt hash (--console-users)
  wspush help [serve]    print this, or the server's flags
Run "wspush serve -h" for the server's flags, "wspush bench MODE -h" for a
load test's.
`)
}

// unknownCommand is the one-line error of a command wspush does not have.
func unknownCommand(cmd string) error {
	if near := nearest(cmd, commands); near != "" {
		return fmt.Errorf("unknown command %q: did you mean %s? (wspush help lists the commands)", cmd, near)
	}
	return fmt.Errorf("unknown command %q (wspush help lists the commands)", cmd)
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

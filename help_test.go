package main

import (
	"errors"
	"flag"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func serveHelp(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	if err := newServeFlags().writeHelp(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestHelpShowsTheGroupsAndHumanSizes(t *testing.T) {
	help := serveHelp(t)
	// The groups, in order.
	at := 0
	for _, g := range []string{"\nListeners:\n", "\nAuthentication and trust:\n", "\nLimits:\n", "\nTimeouts:\n",
		"\nCompression:\n", "\nCluster:\n", "\nHistory and presence:\n", "\nWebhook (events to the backend):\n",
		"\nLogging:\n", "\nConfiguration:\n"} {
		i := strings.Index(help[at:], g)
		if i < 0 {
			t.Fatalf("the help lacks the group %q after byte %d:\n%s", g, at, help)
		}
		at += i + len(g)
	}
	// Every flag, once, at the start of a line.
	f := newServeFlags()
	f.fs.VisitAll(func(fl *flag.Flag) {
		if n := strings.Count(help, "\n  --"+fl.Name+" ") + strings.Count(help, "\n  --"+fl.Name+"\n"); n != 1 {
			t.Errorf("--%s appears %d times at the start of a line", fl.Name, n)
		}
	})
	for _, want := range []string{
		"--max-message SIZE", "(default 64KiB)", "(default 1MiB)", "(default 256MiB)", "(default 128KiB)", "(default 64MiB)",
		"--idle-timeout DURATION", "(default 1m)", "(default 25s)", "(default 100ms)",
		// The precedence, highest first, and how to write values.
		"1. the command line", "2. the environment", "WSPUSH_MAX_CONNS=50000", "3. the --config YAML file", "4. the built-in default",
		"64KiB, 1MiB", "500ms, 25s, 10m, 1h",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("the help lacks %q", want)
		}
	}
	for _, raw := range []string{"1048576", "268435456", "131072", "67108864", "1m0s"} {
		if strings.Contains(help, raw) {
			t.Errorf("the help shows %q, not as people write it", raw)
		}
	}
	for i, line := range strings.Split(help, "\n") {
		if len(line) > helpWidth {
			t.Errorf("line %d is %d wide: %q", i+1, len(line), line)
		}
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"serve", "-h"}, {"serve", "--help"}, {"serve", "--max-conns", "5", "-help"}, {"help", "serve"},
		{"serve", "--config", "/nonexistent.yaml", "-h"}} {
		cmd := command(t, args...)
		cmd.Env = append(cmd.Env, "WSPUSH_IDLE_TIMEOUT=soon") // help even so
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Errorf("%v: %v, want exit 0; stderr %s", args, err, stderr.String())
			continue
		}
		if !strings.HasPrefix(string(out), "usage: wspush serve") || !strings.Contains(string(out), "\nWebhook (events to the backend):\n") {
			t.Errorf("%v: stdout is not serve's help:\n%s", args, out)
		}
		if stderr.Len() > 0 {
			t.Errorf("%v: stderr %q", args, stderr.String())
		}
	}
	for _, args := range [][]string{{"help"}, {"bench", "-h"}} {
		out, err := command(t, args...).Output()
		if err != nil || !strings.Contains(string(out), "wspush serve [flags]") || !strings.Contains(string(out), "wspush bench MODE") {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
}

// oneLine runs wspush with args and returns its stderr, after checking
// that it exited 2 with exactly one line there and nothing on stdout.
func oneLine(t *testing.T, args ...string) string {
	t.Helper()
	cmd := command(t, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("%v: %v, want exit 2", args, err)
	}
	if len(out) > 0 {
		t.Errorf("%v: stdout %q", args, out)
	}
	if s := stderr.String(); strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
		t.Fatalf("%v: stderr is not one line: %q", args, s)
	}
	return stderr.String()
}

func TestMistypedFlagGetsOneLineNamingTheNearest(t *testing.T) {
	if line := oneLine(t, "serve", "--max-mesage", "1024"); !strings.Contains(line, "unknown flag --max-mesage: did you mean --max-message?") {
		t.Errorf("got %q", line)
	}
	if line := oneLine(t, "serv"); !strings.Contains(line, `unknown command "serv": did you mean serve?`) {
		t.Errorf("got %q", line)
	}
	if line := oneLine(t, "--max-message", "64KB"); !strings.Contains(line, `--max-message "64KB": write KiB, MiB or GiB`) {
		t.Errorf("got %q", line)
	}

	for typed, want := range map[string]string{
		"--ping-intervall": "did you mean --ping-interval?",
		"-webhok-secret":   "did you mean --webhook-secret?",
		"--max_conns":      "did you mean --max-conns?",
		"--jwtsecret":      "did you mean --jwt-secret?",
		"--webhook-q":      "did you mean --webhook-queue?", // an abbreviation
		"--histroy-ttl":    "did you mean --history-ttl?",
		"--verbose":        "unknown flag --verbose (wspush serve -h lists the flags)",
		"--x":              "unknown flag --x (wspush serve -h lists the flags)",
	} {
		_, err := parseServe([]string{typed, "1"}, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line with %q", typed, err, want)
		}
	}
	for _, args := range [][]string{{"--addr"}, {"--echo=maybe"}, {"--idle-timeout", "soon"}, {"serve-me"}} {
		_, err := parseServe(args, func(string) string { return "" })
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "wspush serve -h") {
			t.Errorf("%v: %v, want one line pointing at wspush serve -h", args, err)
		}
	}
}

// README.md's flag tables are the help's: the same groups and flags in
// the same order, each with the default the help shows.
func TestREADMEFlagTablesMatchTheHelp(t *testing.T) {
	doc, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(doc), "\n## `serve` flags\n")
	sec, _, _ = strings.Cut(sec, "\n## ")
	if !ok {
		t.Fatal("README.md has no serve flags section")
	}
	type row struct{ group, name, def string }
	var readme []row
	group := ""
	for _, line := range strings.Split(sec, "\n") {
		if g, ok := strings.CutPrefix(line, "### "); ok {
			group = g
			continue
		}
		cells := strings.Split(line, " | ")
		if name, ok := strings.CutPrefix(cells[0], "| `--"); ok && len(cells) >= 3 {
			readme = append(readme, row{group, strings.TrimSuffix(name, "`"), strings.Trim(cells[1], "`")})
		}
	}
	f := newServeFlags()
	var help []row
	for _, g := range f.groups {
		for _, name := range g.names {
			help = append(help, row{g.title, name, shownDefault(f.fs.Lookup(name).DefValue)})
		}
	}
	if len(readme) != len(help) {
		t.Errorf("README.md lists %d flags, the help %d", len(readme), len(help))
	}
	for i := range min(len(readme), len(help)) {
		r, h := readme[i], help[i]
		if r.group != h.group || r.name != h.name {
			t.Errorf("README row %d is --%s under %q; the help has --%s under %q", i+1, r.name, r.group, h.name, h.group)
			continue
		}
		// A default the help shows is the README's, but for the one that
		// depends on the machine.
		if h.def != "" && h.name != "loops" && r.def != h.def {
			t.Errorf("--%s: README.md says the default is %q, the help %q", r.name, r.def, h.def)
		}
	}
}

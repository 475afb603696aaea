package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// helpWidth is the width serve's help wraps its lines to.
const helpWidth = 80

// helpColumn is where a flag's description starts; a longer flag and
// placeholder put it on the next line.
const helpColumn = 28

// serveHelpIntro is what serve's help says before the flags: how a
// setting's four sources rank, and how sizes and durations are written.
const serveHelpIntro = `usage: wspush serve [flags]      (a bare "wspush" runs serve too)

Runs the WebSocket push server. Each setting comes from the first of:
  1. the command line          --max-conns 50000
  2. the environment           WSPUSH_MAX_CONNS=50000  (WSPUSH_, then the
                               flag's name in capitals, - as _)
  3. the --config YAML file    max-conns: 50000
  4. the built-in default      shown below
Sizes are bytes, or a whole number of KiB, MiB or GiB: 65536, 64KiB, 1MiB.
Durations take a unit: 500ms, 25s, 10m, 1h. Keep secrets (--jwt-secret,
--api-key, --webhook-secret, --cluster-secret, --console-key,
--console-readonly-key) in the environment: ps shows the command line to
every user of the machine.
`

const serveHelpOutro = `
--check-config prints what is in effect, as a file --config reads back.
Other commands: wspush bench -h, wspush version, wspush help.
`

// writeHelp writes serve's help, its flags under their headings.
func (f *serveFlags) writeHelp(w io.Writer) error {
	b := bufio.NewWriter(w)
	b.WriteString(serveHelpIntro)
	for _, g := range f.groups {
		fmt.Fprintf(b, "\n%s:\n", g.title)
		for _, name := range g.names {
			writeFlagHelp(b, f.fs.Lookup(name))
		}
	}
	b.WriteString(serveHelpOutro)
	return b.Flush()
}

// writeFlagHelp writes one flag: its name and placeholder, then its
// description and default, wrapped at helpWidth.
func writeFlagHelp(b *bufio.Writer, fl *flag.Flag) {
	placeholder, usage := placeholderOf(fl)
	head := "  --" + fl.Name
	if placeholder != "" {
		head += " " + placeholder
	}
	indent := strings.Repeat(" ", helpColumn)
	line := head
	if len(head) >= helpColumn-1 {
		b.WriteString(head + "\n")
		line = indent
	} else {
		line += indent[len(head):]
	}
	words := strings.Fields(usage)
	if d := shownDefault(fl.DefValue); d != "" {
		words = append(words, "(default "+d+")") // kept on one line
	}
	for _, word := range words {
		if len(line) > helpColumn && len(line)+1+len(word) > helpWidth {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > helpColumn {
			line += " "
		}
		line += word
	}
	b.WriteString(line + "\n")
}

// placeholderOf splits a flag's usage into the placeholder of its value
// and its description: the usage's first word if backquoted, or else the
// name of the value's type; a switch takes none.
func placeholderOf(fl *flag.Flag) (placeholder, usage string) {
	if rest, ok := strings.CutPrefix(fl.Usage, "`"); ok {
		if p, after, ok := strings.Cut(rest, "`"); ok {
			return p, strings.TrimSpace(after)
		}
	}
	return typePlaceholder(fl.Value), fl.Usage
}

// typePlaceholder names what a value of v's type is.
func typePlaceholder(v flag.Value) string {
	switch v.(type) {
	case boolValue, notFlag:
		return ""
	case sizeValue[int], sizeValue[int64]:
		return "SIZE"
	case durationValue:
		return "DURATION"
	case intValue:
		return "N"
	case listValue:
		return "LIST"
	}
	return "STRING"
}

// shownDefault is a default as the help shows it: nothing for an empty,
// zero or false one, whose meaning the description says.
func shownDefault(v string) string {
	switch v {
	case "", "0", "0s", "false":
		return ""
	}
	return v
}

// parseError turns the flag package's error into one line that says what
// to do: the nearest flag to a mistyped one, or where to look. The flag
// package's messages have had these forms since Go 1.
func (f *serveFlags) parseError(err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		if near := nearest(name, f.names()); near != "" {
			return fmt.Errorf("unknown flag --%s: did you mean --%s? (wspush serve -h lists the flags)", name, near)
		}
		return fmt.Errorf("unknown flag --%s (wspush serve -h lists the flags)", name)
	}
	if m := invalidValue.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("--%s %s: %s (wspush serve -h)", m[2], m[1], m[3])
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return fmt.Errorf("--%s needs a value (wspush serve -h)", name)
	}
	return errors.New(msg + " (wspush serve -h)")
}

// invalidValue matches the flag package's error for a value its Set
// refused: the value, quoted, the flag's name and Set's error.
var invalidValue = regexp.MustCompile(`^invalid (?:boolean )?value ("(?:[^"\\]|\\.)*") for (?:flag )?-([^:]+): (.*)$`)

// names are serve's flag names.
func (f *serveFlags) names() []string {
	var l []string
	f.fs.VisitAll(func(fl *flag.Flag) { l = append(l, fl.Name) })
	return l
}

// nearest is the name of names closest to a mistyped one, or "" if none
// is close enough to be what was meant. A name that the typed one begins
// (an abbreviation) is nearer than any other; among those, and otherwise,
// the smallest edit distance wins, and it must be small for the length.
func nearest(typed string, names []string) string {
	typed = strings.ToLower(strings.ReplaceAll(typed, "_", "-"))
	best, bestDist, bestPrefix := "", 0, false
	for _, n := range names {
		d := editDistance(typed, n)
		prefix := len(typed) >= 3 && strings.HasPrefix(n, typed)
		switch {
		case best == "",
			prefix && !bestPrefix,
			prefix == bestPrefix && d < bestDist:
			best, bestDist, bestPrefix = n, d, prefix
		}
	}
	if bestPrefix || (best != "" && bestDist <= max(2, len(typed)/4)) {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b: the fewest
// insertions, deletions and substitutions of bytes that turn one into the
// other.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, sub)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

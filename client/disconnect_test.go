package client

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/wspush/wspush/server"
)

// row is what the SDK keeps of a server.Disconnect.
type row struct {
	Code      int
	Name      string
	Reconnect bool
}

var rowRE = regexp.MustCompile(`\{\s*code:\s*(\d+),\s*name:\s*'([a-z0-9_]+)',\s*reconnect:\s*(true|false)\s*\}`)

// sdkDisconnects parses the DISCONNECTS table out of wspush.js.
func sdkDisconnects(t *testing.T) []row {
	t.Helper()
	src, err := os.ReadFile("wspush.js")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(src), "var DISCONNECTS = [")
	table, _, ok2 := strings.Cut(rest, "];")
	if !ok || !ok2 {
		t.Fatal("wspush.js: no `var DISCONNECTS = [ ... ];` table")
	}
	var rows []row
	for _, line := range strings.Split(table, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		m := rowRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("wspush.js: DISCONNECTS has a line the test cannot read: %q", line)
		}
		code, _ := strconv.Atoi(m[1])
		rows = append(rows, row{Code: code, Name: m[2], Reconnect: m[3] == "true"})
	}
	return rows
}

// readmeDisconnects parses the table between the disconnects markers of
// README.md: | code | name | yes/no |.
func readmeDisconnects(t *testing.T) []row {
	t.Helper()
	src, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(src), "<!-- disconnects:")
	table, _, ok2 := strings.Cut(rest, "<!-- end disconnects -->")
	if !ok || !ok2 {
		t.Fatal("README.md: no disconnects table between its markers")
	}
	var rows []row
	for _, line := range strings.Split(table, "\n")[1:] {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) != 3 {
			continue
		}
		code, err := strconv.Atoi(strings.TrimSpace(cells[0]))
		if err != nil {
			continue // the header and its rule
		}
		rows = append(rows, row{Code: code, Name: strings.TrimSpace(cells[1]), Reconnect: strings.TrimSpace(cells[2]) == "yes"})
	}
	return rows
}

func serverDisconnects() []row {
	var rows []row
	for _, d := range server.Disconnects {
		rows = append(rows, row{Code: d.Code, Name: d.Name, Reconnect: d.Reconnect})
	}
	return rows
}

func sameRows(t *testing.T, where string, got, want []row) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s has %d disconnects, server.Disconnects %d", where, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("row %d: %s %+v, server %+v", i, where, got[i], want[i])
		}
	}
}

func TestSDKDisconnectTableMatchesServer(t *testing.T) {
	sameRows(t, "wspush.js", sdkDisconnects(t), serverDisconnects())
}

func TestREADMEDisconnectTableMatchesServer(t *testing.T) {
	sameRows(t, "README.md", readmeDisconnects(t), serverDisconnects())
}

// TestSDKDisconnectRangesDecideReconnect holds both tables to the rule the
// SDK falls back on for codes it does not know: 4000-4499 reconnect,
// 4500-4999 do not.
func TestSDKDisconnectRangesDecideReconnect(t *testing.T) {
	for _, r := range sdkDisconnects(t) {
		if r.Code < 4000 || r.Code > 4999 || r.Reconnect != (r.Code < 4500) {
			t.Errorf("%+v: codes 4000-4499 must reconnect and 4500-4999 must not", r)
		}
	}
}

func TestDemoHasThePageAndTheSDK(t *testing.T) {
	for _, name := range []string{"index.html", "chat.js", "wspush.js"} {
		f, err := Demo.Open(name)
		if err != nil {
			t.Fatalf("Demo.Open(%q): %v", name, err)
		}
		f.Close()
	}
	if _, err := Demo.Open("../wspush.js"); err == nil {
		t.Fatal("Demo.Open(../wspush.js) worked; want an invalid path")
	}
}

package server

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestProtocolDocListsEveryDisconnect holds docs/protocol.md's disconnect
// table to the one the server uses.
func TestProtocolDocListsEveryDisconnect(t *testing.T) {
	doc, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(doc), "<!-- disconnects:")
	table, _, ok2 := strings.Cut(table, "<!-- end disconnects -->")
	if !ok || !ok2 {
		t.Fatal("docs/protocol.md has no disconnects table")
	}
	var rows []string
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(line, "| 4") {
			rows = append(rows, line)
		}
	}
	if len(rows) != len(Disconnects) {
		t.Fatalf("the doc lists %d disconnects, the server has %d", len(rows), len(Disconnects))
	}
	for i, d := range Disconnects {
		yes := "no"
		if d.Reconnect {
			yes = "yes"
		}
		want := fmt.Sprintf("| %d | %s | %s | %d |", d.Code, d.Name, yes, d.Close)
		if !strings.HasPrefix(rows[i], want) {
			t.Errorf("row %d: %q, want it to start %q", i, rows[i], want)
		}
		if reconnect := d.Code < 4500; reconnect != d.Reconnect {
			t.Errorf("%s: code %d is in the wrong range for reconnect=%v", d.Name, d.Code, d.Reconnect)
		}
	}
}

// TestAPIDocListsEveryMetric holds docs/api.md's metrics table to what a
// node exposes, with every part that has metrics switched on (history, the
// cluster, the webhook).
func TestAPIDocListsEveryMetric(t *testing.T) {
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	r := startRedis(t)
	cfg := clusterConfig()
	cfg.Webhook.URL = "http://127.0.0.1:9/events" // never called: nothing happens
	s := startNode(t, r, "a", cfg)
	body := getBody(t, s.APIHandler(), "/metrics")
	seen := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		name, ok := strings.CutPrefix(line, "# TYPE ")
		if !ok || !strings.HasPrefix(name, "wspush_") {
			continue
		}
		name, _, _ = strings.Cut(name, " ")
		seen[name] = true
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/api.md does not list %s", name)
		}
	}
	if len(seen) < 30 {
		t.Fatalf("only %d wspush metrics exposed:\n%s", len(seen), body)
	}
}

// TestDesignDocNamesEveryRoomAndOnlyFilesThatExist holds docs/design.md to
// the code: every package of server/imports_test.go's table is named in
// it, and every file it names in backquotes exists (a bare name somewhere
// in the repository, a path from its root; shared/ lies beside it).
func TestDesignDocNamesEveryRoomAndOnlyFilesThatExist(t *testing.T) {
	b, err := os.ReadFile("../docs/design.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for pkg := range allowedImports {
		if !strings.HasPrefix(pkg, "server/") {
			continue
		}
		name := pkg[strings.LastIndexByte(pkg, '/')+1:]
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("docs/design.md does not name the room %s (`%s`)", pkg, name)
		}
	}
	names := map[string]bool{}
	err = filepath.WalkDir("..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".") && path != "..") {
			return filepath.SkipDir
		}
		names[d.Name()] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	files := regexp.MustCompile("`([A-Za-z0-9_./-]+\\.(?:go|md|mjs|js|sh|conf|yml|json))`")
	for _, m := range files.FindAllStringSubmatch(doc, -1) {
		f := m[1]
		switch {
		case !strings.Contains(f, "/"):
			if !names[f] {
				t.Errorf("docs/design.md names %s: no such file in the repository", f)
			}
		case strings.HasPrefix(f, "shared/"):
			// Beside the repository: CI has it, a checkout alone may not.
		default:
			if _, err := os.Stat(filepath.Join("..", f)); err != nil {
				t.Errorf("docs/design.md names %s: %v", f, err)
			}
		}
	}
}

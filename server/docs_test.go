package server

import (
	"fmt"
	"os"
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

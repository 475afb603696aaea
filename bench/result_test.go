package bench

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenResult fills every field of Result, so that the golden file shows
// the whole --json schema.
func goldenResult() *Result {
	lat := &Latency{Count: 1000, Min: 0.05, Mean: 0.4, P50: 0.3, P90: 0.8, P99: 1.5, P999: 3.2, Max: 4.1}
	r := &Result{
		Schema:    SchemaVersion,
		Mode:      ModeBroadcast,
		URL:       "ws://127.0.0.1:8080/ws",
		Workers:   2,
		Elapsed:   12.5,
		Conns:     ConnStats{Target: 10000, Upgraded: 9999, Failed: 1, Dropped: 0, OpenS: 2.5, PerSec: 3999.6},
		Failures:  map[string]int64{"timeout": 1},
		Messages:  MessageStats{Size: 64, Sent: 0, Received: 99990, Other: 9999, PerSec: 19998},
		Handshake: lat,
		Latency:   lat,
		API:       &APIStats{Calls: 10, Failed: 0, PerSec: 2, Delivered: 99990, Lost: 0, Online: 99990, Empty: 1, Offline: 1, Unknown: 2},
		Broadcast: &BroadcastStats{Count: 10, Receivers: 99990, LastReceiver: lat},
		Server:    &ServerStats{Source: "proc", PID: 4242, RSSBefore: 10 << 20, RSSAfter: 30 << 20, BytesPerConn: 2097.4, CPUS: 3.5, CPUPct: 28},
		Bench:     BenchStats{Processes: 3, RSS: 60 << 20, PeakRSS: 64 << 20, BytesPerConn: 6291.5, CPUUser: 1.2, CPUSys: 2.3, CPUPct: 28},
		MaxErrors: 5,
		Notes:     []string{"an example note"},
	}
	r.finish()
	return r
}

// TestResultJSONSchema pins the --json output. A change here changes the
// machine interface: add fields, never rename them, and update
// docs/benchmarks.md (go test ./bench/ -run Schema -update rewrites it).
func TestResultJSONSchema(t *testing.T) {
	var buf bytes.Buffer
	if err := goldenResult().WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "result.golden.json")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("--json output changed; got\n%s\nwant\n%s", buf.Bytes(), want)
	}
}

func TestResultPassDependsOnMaxErrors(t *testing.T) {
	r := &Result{Failures: map[string]int64{"refused": 2, "http_503": 1}, MaxErrors: 2}
	r.finish()
	if r.Errors != 3 || r.Pass {
		t.Fatalf("errors %d pass %v, want 3 false", r.Errors, r.Pass)
	}
	r.MaxErrors = 3
	r.finish()
	if !r.Pass {
		t.Fatal("3 errors with --max-errors 3 must pass")
	}
}

func TestResultTableNamesEveryCause(t *testing.T) {
	var buf bytes.Buffer
	r := goldenResult()
	r.Failures["http_503"] = 2
	r.MaxErrors = 0
	r.finish()
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"timeout=1", "http_503=2", "last receiver", "FAIL", "server RSS"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, buf.String())
		}
	}
}

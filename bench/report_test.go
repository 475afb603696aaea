package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/wspush/wspush/server"
)

// TestReportOfARealRunOpensInChromiumOffline: `wspush bench push
// --report` against a real server whose --max-conns turns some
// connections away (so that the failures chart has a cause), then the
// report opened in Debian's chromium through playwright-core: it is one
// file, the page makes no request at all, and each of its four charts
// paints its canvas.
func TestReportOfARealRunOpensInChromiumOffline(t *testing.T) {
	srv := startServe(t, server.Config{ConnConfig: server.ConnConfig{Addr: "127.0.0.1:0", Loops: 1, MaxConns: 40}, APIAddr: "127.0.0.1:0"})
	dir := t.TempDir()
	report := filepath.Join(dir, "report.html")
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	err = Main([]string{"push", "--url", "ws://" + srv.Addr().String() + "/ws", "--api", "http://" + srv.APIAddr().String(),
		"--conns", "50", "--ramp", "100", "--rate", "200", "--duration", "1500ms", "--loops", "1", "--grace", "2s",
		"--timeout", "30s", "--max-errors", "50", "--report", report}, devnull, devnull)
	if err != nil {
		t.Fatalf("bench: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("the report should be one file, the directory has %v (%v)", entries, err)
	}
	html, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing that would load from elsewhere: no external script, style,
	// image, font or frame, and a policy that forbids any (the browser
	// below checks that nothing is requested).
	for _, re := range []string{`<script[^>]+src=`, `<link`, `<img`, `<iframe`, `@import`, `url\(`} {
		if m := regexp.MustCompile(re).Find(html); m != nil {
			t.Errorf("the report refers to something outside it: %q", m)
		}
	}
	if !bytes.Contains(html, []byte("default-src 'none'")) || !bytes.Contains(html, []byte("uPlot")) {
		t.Fatalf("no content security policy or no inlined uPlot")
	}

	got := openInChromium(t, report, os.Getenv("WSPUSH_REPORT_SCREENSHOT"))
	if len(got.Requests) != 0 {
		t.Errorf("the report made requests: %v", got.Requests)
	}
	if len(got.Errors) != 0 {
		t.Errorf("the page has errors: %v", got.Errors)
	}
	want := map[string]bool{"pct": true, "conns": true, "rate": true, "fail": true}
	for _, c := range got.Charts {
		if !want[c.ID] {
			continue
		}
		delete(want, c.ID)
		// A canvas of its size and more than one colour drawn on a good
		// part of it: axes, grid and data, not a blank box.
		if !c.Canvas || c.Width < 300 || c.Height < 100 || c.Painted < c.Width*c.Height/20 || c.Colors < 3 {
			t.Errorf("chart %s is not drawn: %+v", c.ID, c)
		}
	}
	if len(want) != 0 {
		t.Errorf("charts missing from the page: %v (got %+v)", want, got.Charts)
	}
}

type pageCheck struct {
	Requests []string `json:"requests"`
	Errors   []string `json:"errors"`
	Charts   []struct {
		ID      string `json:"id"`
		Canvas  bool   `json:"canvas"`
		Width   int    `json:"width"`
		Height  int    `json:"height"`
		Painted int    `json:"painted"`
		Colors  int    `json:"colors"`
	} `json:"charts"`
}

// openInChromium runs testdata/report_check.mjs on the report.
func openInChromium(t *testing.T, report, screenshot string) pageCheck {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the report's browser check needs it")
	}
	chromium := os.Getenv("WSPUSH_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	pw, _ := filepath.Abs("../client/node_modules/playwright-core")
	for _, p := range []string{chromium, pw} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s is missing: make deps installs Debian's chromium and client/'s playwright-core", p)
		}
	}
	args := []string{"testdata/report_check.mjs", pw, report}
	if screenshot != "" {
		args = append(args, screenshot)
	}
	cmd := exec.Command(node, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	done := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
	out, err := cmd.Output()
	done.Stop()
	if err != nil {
		t.Fatalf("report_check.mjs: %v\n%s", err, stderr.String())
	}
	var got pageCheck
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("report_check.mjs printed %q: %v", out, err)
	}
	return got
}

func TestReportNeedsARunOfThisProcess(t *testing.T) {
	var r Result
	if err := r.WriteReport(&bytes.Buffer{}); !errors.Is(err, ErrNoRunData) {
		t.Fatalf("got %v, want ErrNoRunData", err)
	}
}

func TestPercentilesFollowTheHistogramUpToItsMaximum(t *testing.T) {
	h := hdrhistogram.New(histMin, histMax, histDigits)
	for v := int64(1); v <= 1000; v++ {
		_ = h.RecordValue(v * 1000) // 1 ms to 1 s
	}
	p := percentiles([]namedHist{{"x", h}, {"empty", hdrhistogram.New(histMin, histMax, histDigits)}})
	if len(p.Series) != 1 || p.X[0] != 1 || p.X[20] < 9.99 || p.X[20] > 10.01 {
		t.Fatalf("series %d, x %v", len(p.Series), p.X[:21])
	}
	ms := p.Series[0].MS
	// At 90% (x = 10) 900 ms; the last point is the maximum, 1 s, at the
	// first x past the 1000 samples; nothing after it.
	if v := *ms[20]; v < 899 || v > 901 {
		t.Errorf("p90 %v ms, want 900", v)
	}
	last := -1
	for i, v := range ms {
		if v != nil {
			last = i
		}
	}
	if p.X[last] <= 1000 || p.X[last-1] > 1000 || *ms[last] < 999 || *ms[last] > 1001 {
		t.Errorf("last point at x=%v: %v ms, want the maximum past x=1000", p.X[last], *ms[last])
	}
	for i := 1; i <= last; i++ {
		if *ms[i] < *ms[i-1] {
			t.Errorf("latency falls at x=%v", p.X[i])
		}
	}
}

func TestTimelineStaysBounded(t *testing.T) {
	tl := newTimeline(time.Now())
	for i := range 5 * maxSamples {
		tl.addAt(time.Duration(i)*timelineEvery, progress{Open: int64(i)})
	}
	s, _ := tl.snapshot()
	if len(s) >= maxSamples || len(s) < maxSamples/4 {
		t.Fatalf("%d samples kept, want fewer than %d", len(s), maxSamples)
	}
	if s[0].Open != 0 || s[len(s)-1].Open < int64(4*maxSamples) || tl.interval() <= timelineEvery {
		t.Fatalf("first %v last %v interval %v: the decimation lost the ends or kept sampling as often", s[0], s[len(s)-1], tl.interval())
	}
	for i := 1; i < len(s); i++ {
		if s[i].T <= s[i-1].T {
			t.Fatalf("samples out of order at %d", i)
		}
	}
}

func TestReportParamsNeverHoldTheAPIKey(t *testing.T) {
	for _, p := range params(Config{Mode: ModePush, APIKey: "s3cret-key", Hold: time.Second}.withDefaults()) {
		if strings.Contains(p.V, "s3cret") {
			t.Fatalf("%s = %s", p.K, p.V)
		}
		if p.K == "hold" && p.V != "1s" {
			t.Errorf("hold = %s, want 1s", p.V)
		}
	}
}

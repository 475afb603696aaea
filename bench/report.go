package bench

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/wspush/wspush/server/webui"
)

// The HTML report (--report FILE.html): one self-contained file, the
// chart library (server/webui's uPlot) and the data inlined, that opens in
// any browser without the network. It draws what the JSON summarizes: the
// whole latency distributions as percentile plots from the HDR
// histograms, connections and throughput over time from the timeline,
// failures by cause, and the run's parameters and machine. The JSON stays
// the machine interface; the report is for people.

//go:embed report.html
var reportHTML string

var reportTmpl = template.Must(template.New("report").Parse(reportHTML))

// Version is the program's version, shown in the report's machine
// table; main sets it.
var Version = ""

// ErrNoRunData is returned by WriteReport for a Result that did not come
// from Run in this process (one read back from JSON has no timeline or
// histograms).
var ErrNoRunData = errors.New("bench: the report needs a result of a run in this process")

// reportData is what the page's script draws.
type reportData struct {
	Mode        string       `json:"mode"`
	Pass        bool         `json:"pass"`
	Started     string       `json:"started"`
	Percentiles pctPlot      `json:"percentiles"`
	Timeline    timelineData `json:"timeline"`
	Phases      []phaseMark  `json:"phases"`
	Failures    []failure    `json:"failures"`
	Target      int          `json:"target"`
}

// pctPlot is latency against percentile for each histogram, on one grid
// of percentiles: X is 1/(1-q), so that 90%, 99%, 99.9% are evenly spaced
// on a log axis; a series is null past the quantiles its count resolves.
type pctPlot struct {
	X      []float64   `json:"x"`
	Series []pctSeries `json:"series"`
}

type pctSeries struct {
	Name  string     `json:"name"`
	Count int64      `json:"count"`
	MS    []*float64 `json:"ms"`
}

type timelineData struct {
	T        []float64 `json:"t"`
	Open     []int64   `json:"open"`
	Upgraded []int64   `json:"upgraded"`
	Received []int64   `json:"received"`
	Errors   []int64   `json:"errors"`
}

type failure struct {
	Cause string `json:"cause"`
	N     int64  `json:"n"`
}

type kv struct{ K, V string }

// page is the template's input.
type page struct {
	Title   string
	Summary string
	Params  []kv
	Machine []kv
	Data    reportData
	UPlotJS template.JS
	UPlotCS template.CSS
	Version string
}

// WriteReport writes r as a self-contained HTML page to w.
func (r *Result) WriteReport(w io.Writer) error {
	if r.run == nil {
		return ErrNoRunData
	}
	var table bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		return err
	}
	p := page{
		Title:   fmt.Sprintf("wspush bench %s: %d connections, %s", r.Mode, r.Conns.Target, r.run.start.UTC().Format("2006-01-02 15:04 UTC")),
		Summary: table.String(),
		Params:  params(r.run.cfg),
		Machine: machine(),
		Data:    r.reportData(),
		UPlotJS: template.JS(webui.UPlotJS()),
		UPlotCS: template.CSS(webui.UPlotCSS()),
		Version: webui.UPlotVersion,
	}
	return reportTmpl.Execute(w, p)
}

// writeReportFile writes the report to path.
func writeReportFile(path string, r *Result) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: --report: %w", err)
	}
	bw := bufio.NewWriter(f)
	if err := r.WriteReport(bw); err != nil {
		f.Close()
		return fmt.Errorf("bench: --report: %w", err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("bench: --report: %w", err)
	}
	return f.Close()
}

func (r *Result) reportData() reportData {
	d := reportData{Mode: r.Mode, Pass: r.Pass, Started: r.run.start.UTC().Format(time.RFC3339), Target: r.Conns.Target}
	var hs []namedHist
	switch r.Mode {
	case ModeEcho:
		hs = append(hs, namedHist{"echo round trip", r.run.latency})
	case ModePush:
		hs = append(hs, namedHist{"push: API call to arrival", r.run.latency})
	case ModeBroadcast:
		hs = append(hs, namedHist{"broadcast: API call to each receiver", r.run.latency},
			namedHist{"broadcast: to the last receiver", r.run.lastReceiver})
	}
	hs = append(hs, namedHist{"upgrade: dial to 101", r.run.handshake})
	d.Percentiles = percentiles(hs)
	samples, phases := r.run.timeline.snapshot()
	for _, s := range samples {
		d.Timeline.T = append(d.Timeline.T, math.Round(s.T*1000)/1000)
		d.Timeline.Open = append(d.Timeline.Open, s.Open)
		d.Timeline.Upgraded = append(d.Timeline.Upgraded, s.Upgraded)
		d.Timeline.Received = append(d.Timeline.Received, s.Received)
		d.Timeline.Errors = append(d.Timeline.Errors, s.Errors)
	}
	d.Phases = phases
	for _, k := range slices.Sorted(maps.Keys(r.Failures)) {
		if n := r.Failures[k]; n > 0 {
			d.Failures = append(d.Failures, failure{k, n})
		}
	}
	slices.SortStableFunc(d.Failures, func(a, b failure) int { return int(b.N - a.N) })
	return d
}

type namedHist struct {
	name string
	h    *hdrhistogram.Histogram
}

// percentiles samples each histogram at q = 1 - 10^(-k/20), k = 0, 1, ...
// (twenty points a decade: 0%, ..., 90%, ..., 99%, ... 99.999%), each
// series as far as its count resolves, and at its maximum.
func percentiles(hs []namedHist) pctPlot {
	const steps, decades = 20, 5
	var p pctPlot
	for k := 0; k <= steps*decades; k++ {
		p.X = append(p.X, math.Pow(10, float64(k)/steps))
	}
	for _, nh := range hs {
		if nh.h == nil || nh.h.TotalCount() == 0 {
			continue
		}
		n := nh.h.TotalCount()
		s := pctSeries{Name: nh.name, Count: n, MS: make([]*float64, len(p.X))}
		for i, x := range p.X {
			// Past x = n a quantile means less than one sample: the
			// maximum is the last point.
			if x > float64(n) {
				v := float64(nh.h.Max()) / 1000
				s.MS[i] = &v
				break
			}
			q := 100 * (1 - 1/x)
			v := float64(nh.h.ValueAtQuantile(q)) / 1000
			s.MS[i] = &v
		}
		p.Series = append(p.Series, s)
	}
	return p
}

// params lists the run's settings as the JSON of Config names them (the
// API key, which is not in it, never appears).
func params(cfg Config) []kv {
	b, _ := json.Marshal(cfg)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	var out []kv
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		switch x := v.(type) {
		case nil:
			continue
		case float64:
			if strings.HasSuffix(k, "timeout") || k == "hold" || k == "duration" || k == "grace" {
				out = append(out, kv{k, time.Duration(x).String()})
				continue
			}
			out = append(out, kv{k, strconv.FormatFloat(x, 'f', -1, 64)})
			continue
		case []any:
			if len(x) == 0 {
				continue
			}
		}
		s, _ := json.Marshal(v)
		out = append(out, kv{k, strings.Trim(string(s), `"`)})
	}
	return out
}

// machine describes where the bench ran.
func machine() []kv {
	var out []kv
	add := func(k, v string) {
		if v != "" {
			out = append(out, kv{k, v})
		}
	}
	host, _ := os.Hostname()
	add("host", host)
	add("os", runtime.GOOS+"/"+runtime.GOARCH+" "+readTrim("/proc/sys/kernel/osrelease"))
	add("cpu", fmt.Sprintf("%d × %s", runtime.NumCPU(), cpuModel()))
	add("memory", memTotal())
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		add("open files limit", strconv.FormatUint(rl.Cur, 10))
	}
	add("wspush", Version)
	add("go", runtime.Version())
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", ""
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = " (modified)"
				}
			}
		}
		if rev != "" {
			add("wspush commit", rev+dirty)
		}
	}
	return out
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// cpuModel is /proc/cpuinfo's first model name.
func cpuModel() string {
	for _, line := range strings.Split(readTrim("/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// memTotal is /proc/meminfo's MemTotal, in GiB.
func memTotal() string {
	for _, line := range strings.Split(readTrim("/proc/meminfo"), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	return ""
}

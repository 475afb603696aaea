package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// The alert rules and the Grafana dashboard of docs/deploy are held to
// what a node really exports: promtool checks the rules and runs their
// unit tests (alerts_test.yml fires and silences each alert on synthetic
// series), promtool check metrics lints /metrics of a running single node
// and of a running cluster node, and every metric name, and every label
// value matched with = or =~, that a rule or a dashboard panel names must
// be on one of those two /metrics. A rename breaks this test, not the
// alerts at 3 a.m.

const (
	alertsFile     = "../docs/deploy/prometheus/alerts.yml"
	alertTestsFile = "../docs/deploy/prometheus/alerts_test.yml"
	dashboardFile  = "../docs/deploy/grafana/wspush.json"
)

func findPromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed: it comes with Debian's prometheus package, which make deps installs")
	}
	return p
}

func TestAlertRulesPassPromtool(t *testing.T) {
	promtool := findPromtool(t)
	for _, args := range [][]string{{"check", "rules", alertsFile}, {"test", "rules", alertTestsFile}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

func TestRulesAndDashboardNameOnlyMetricsANodeExports(t *testing.T) {
	promtool := findPromtool(t)
	// Redis first: its cleanup checks for leaked goroutines, so it must
	// run after every server's shutdown (cleanups run last first).
	r := startRedis(t)

	// A single node with everything that has metrics: the client
	// protocol, history, a webhook (to a backend that answers 204).
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close) // after the single node's shutdown, which flushes its webhook
	single := startPlain(t, Config{APIAddr: "127.0.0.1:0", HistorySize: 10, HistoryTTL: time.Minute,
		Webhook: WebhookConfig{URL: hook.URL, Delay: 10 * time.Millisecond}, Version: "test-1"})
	// And a node of a cluster, on the real redis-server.
	cfg := clusterConfig()
	cfg.APIAddr = "127.0.0.1:0"
	node := startNode(t, r, "a", cfg)
	// A push through each, so that the latency histogram has samples.
	c, _ := dialAs(t, single, "?user=u1", "")
	for _, s := range []*Server{single, node} {
		resp, err := http.Post("http://"+s.APIAddr().String()+"/v1/broadcast", "application/json", strings.NewReader(`{"data":{"n":1}}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	c.ExpectPush(`{"n":1}`)

	exported := map[string]map[string]bool{} // metric name -> label="value" pairs seen
	var bodies []string
	for _, s := range []*Server{single, node} {
		body := scrape(t, s)
		bodies = append(bodies, body)
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("promtool check metrics on %s: %v\n%s", s.APIAddr(), err, out)
		}
		for name, labels := range parseExposition(body) {
			if exported[name] == nil {
				exported[name] = map[string]bool{}
			}
			for l := range labels {
				exported[name][l] = true
			}
		}
	}
	if !strings.Contains(bodies[0], `wspush_build_info{goversion="go`) || !strings.Contains(bodies[0], `version="test-1"} 1`) {
		t.Errorf("no wspush_build_info with the version:\n%s", grepLines(bodies[0], "wspush_build_info"))
	}

	exprs := ruleExprs(t)
	if len(exprs) < 15 {
		t.Fatalf("only %d alert expressions in %s", len(exprs), alertsFile)
	}
	dash := dashboardExprs(t)
	if len(dash) < 30 {
		t.Fatalf("only %d queries in %s", len(dash), dashboardFile)
	}
	used := 0
	for _, e := range append(exprs, dash...) {
		for _, sel := range selectors(e.expr) {
			used++
			labels, ok := exported[sel.name]
			if !ok {
				t.Errorf("%s: %s is not on /metrics of a running node", e.where, sel.name)
				continue
			}
			for _, want := range sel.labels {
				if !labels[want] {
					t.Errorf("%s: %s has no series with %s", e.where, sel.name, want)
				}
			}
		}
	}
	if used < 60 {
		t.Fatalf("only %d metric selectors found in the rules and the dashboard: the parser is broken", used)
	}
}

// scrape reads GET /metrics of s through its API listener.
func scrape(t *testing.T, s *Server) string {
	t.Helper()
	resp, err := http.Get("http://" + s.APIAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// parseExposition returns the sample names of a text exposition, each
// with its label="value" pairs.
func parseExposition(body string) map[string]map[string]bool {
	pair := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
	out := map[string]map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		end := strings.IndexAny(line, "{ ")
		if end < 0 {
			continue
		}
		name := line[:end]
		if out[name] == nil {
			out[name] = map[string]bool{}
		}
		if line[end] == '{' {
			labels, _, _ := strings.Cut(line[end+1:], "}")
			for _, m := range pair.FindAllStringSubmatch(labels, -1) {
				out[name][m[1]+`="`+m[2]+`"`] = true
			}
		}
	}
	return out
}

type namedExpr struct{ where, expr string }

func ruleExprs(t *testing.T) []namedExpr {
	t.Helper()
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr string
				For         string
				Labels      map[string]string
				Annotations map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	var out []namedExpr
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			// What docs/operations.md promises of every rule.
			if r.For == "" || r.Labels["severity"] == "" || r.Annotations["runbook"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alert %s: want a for, a severity label, a summary and a runbook annotation", r.Alert)
			}
			out = append(out, namedExpr{"alert " + r.Alert, r.Expr})
		}
	}
	return out
}

// dashboardExprs returns every query of the dashboard: its panels'
// targets and its variables' queries.
func dashboardExprs(t *testing.T) []namedExpr {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct {
				Name       string
				Definition string
			}
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var out []namedExpr
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, namedExpr{fmt.Sprintf("dashboard panel %q", p.Title), tg.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Definition != "" {
			out = append(out, namedExpr{"dashboard variable " + v.Name, v.Definition})
		}
	}
	return out
}

// selector is a metric an expression names, with the label="value" pairs
// its matchers require to exist (one per alternative of a =~ that lists
// plain words).
type selector struct {
	name   string
	labels []string
}

var (
	selectorRE = regexp.MustCompile(`\b((?:wspush|process|go)_[a-zA-Z0-9_]*)\s*(\{[^}]*\})?`)
	matcherRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)\s*"([^"]*)"`)
	plainAlts  = regexp.MustCompile(`^[a-zA-Z0-9_.+|]+$`)
)

// selectors finds the metrics of the exporters an expression names (not
// "up", which Prometheus makes), skipping the labels Prometheus adds (job,
// instance) and matchers on dashboard variables.
func selectors(expr string) []selector {
	var out []selector
	for _, m := range selectorRE.FindAllStringSubmatch(expr, -1) {
		s := selector{name: m[1]}
		for _, lm := range matcherRE.FindAllStringSubmatch(m[2], -1) {
			label, op, value := lm[1], lm[2], lm[3]
			if label == "job" || label == "instance" || strings.Contains(value, "$") {
				continue
			}
			switch op {
			case "=":
				s.labels = append(s.labels, label+`="`+value+`"`)
			case "=~":
				if plainAlts.MatchString(value) {
					for _, v := range strings.Split(value, "|") {
						s.labels = append(s.labels, label+`="`+v+`"`)
					}
				}
			}
		}
		out = append(out, s)
	}
	return out
}

func TestSelectorsFindNamesAndLabelValues(t *testing.T) {
	got := selectors(`sum without (status) (rate(wspush_webhook_requests_total{job=~"$job",status=~"5xx|error"}[5m])) / go_goroutines > up{job="wspush"}`)
	want := []selector{{"wspush_webhook_requests_total", []string{`status="5xx"`, `status="error"`}}, {"go_goroutines", nil}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].name != want[i].name || !slices.Equal(got[i].labels, want[i].labels) {
			t.Errorf("selector %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

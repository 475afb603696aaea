package bench

import (
	"context"
	"fmt"
	"time"
)

// serverProbe measures the server under test: from /proc when its PID is
// known, otherwise (idle mode only) from GET /v1/stats.
type serverProbe struct {
	pid     int
	api     *apiClient // nil unless idle mode without a PID
	st      ServerStats
	cpu0    float64
	measure bool
}

func newServerProbe(cfg Config) *serverProbe {
	p := &serverProbe{pid: cfg.ServerPID}
	switch {
	case cfg.ServerPID > 0:
		p.measure = true
		p.st = ServerStats{Source: "proc", PID: cfg.ServerPID}
	case cfg.Mode == ModeIdle:
		p.measure = true
		p.api = newAPIClient(splitURLs(cfg.API)[0], cfg.APIKey, 1) // the first node: its RSS
		p.st = ServerStats{Source: "api"}
	}
	return p
}

func (p *serverProbe) rss(ctx context.Context) (int64, error) {
	if p.pid > 0 {
		rss, err := readRSS(p.pid)
		return rss, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return p.api.rss(ctx)
}

// before takes the server's RSS and CPU before any connection opens.
func (p *serverProbe) before(ctx context.Context) error {
	if !p.measure {
		return nil
	}
	rss, err := p.rss(ctx)
	if err != nil {
		p.measure = false
		return fmt.Errorf("server memory not measured (use --server-pid or --api): %w", err)
	}
	p.st.RSSBefore = rss
	if p.pid > 0 {
		p.cpu0, _ = readCPU(p.pid)
	}
	return nil
}

// after takes the server's RSS while open connections are held.
func (p *serverProbe) after(ctx context.Context, open int64) error {
	if !p.measure {
		return nil
	}
	rss, err := p.rss(ctx)
	if err != nil {
		p.measure = false
		return fmt.Errorf("server memory after the load: %w", err)
	}
	p.st.RSSAfter = rss
	if open > 0 {
		p.st.BytesPerConn = float64(rss-p.st.RSSBefore) / float64(open)
	}
	return nil
}

// stats returns what was measured over a run of length d, or nil.
func (p *serverProbe) stats(d time.Duration) *ServerStats {
	if !p.measure {
		return nil
	}
	if p.pid > 0 {
		if cpu, err := readCPU(p.pid); err == nil {
			p.st.CPUS = cpu - p.cpu0
			p.st.CPUPct = 100 * p.st.CPUS / d.Seconds()
		}
	}
	if p.api != nil {
		p.api.close()
	}
	st := p.st
	return &st
}

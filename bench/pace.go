package bench

import "time"

// pacer spaces events at a fixed rate from a start time. It keeps no
// history beyond a count, so a slow consumer that falls behind catches up in
// a burst bounded by what it missed, never more. The zero rate means no
// pacing. A pacer is used by one goroutine at a time.
type pacer struct {
	start time.Time
	every time.Duration // time between events; zero means no pacing
	n     int64         // events let through so far
}

// newPacer returns a pacer for rate events per second from start.
func newPacer(rate float64, start time.Time) *pacer {
	p := &pacer{start: start}
	if rate > 0 {
		p.every = time.Duration(float64(time.Second) / rate)
	}
	return p
}

// wait returns how long to wait from now before the next event is due, and
// counts that event as let through.
func (p *pacer) wait(now time.Time) time.Duration {
	if p.every == 0 {
		p.n++
		return 0
	}
	due := p.start.Add(time.Duration(p.n) * p.every)
	p.n++
	if d := due.Sub(now); d > 0 {
		return d
	}
	return 0
}

package bench

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// bar shows a run's progress on a terminal: a bar while connections
// open, a spinner with the counters after.
type bar struct {
	mu    sync.Mutex
	w     io.Writer
	pb    *progressbar.ProgressBar
	name  string
	total int64
}

func newBar(w io.Writer) *bar { return &bar{w: w} }

func (b *bar) phase(name string, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pb != nil {
		_ = b.pb.Finish()
		fmt.Fprintln(b.w)
	}
	b.name, b.total = name, total
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionSetDescription(name),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionSetWidth(30),
	}
	if total > 0 {
		opts = append(opts, progressbar.OptionShowCount())
	}
	b.pb = progressbar.NewOptions64(total, opts...)
}

func (b *bar) update(p progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pb == nil {
		return
	}
	b.pb.Describe(fmt.Sprintf("%-9s up %d  open %d  msgs %d  errors %d", b.name, p.Upgraded, p.Open, p.Received, p.Errors))
	if b.total > 0 {
		_ = b.pb.Set64(p.Upgraded)
	} else {
		_ = b.pb.Add(1)
	}
}

func (b *bar) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pb != nil {
		_ = b.pb.Finish()
		fmt.Fprintln(b.w)
		b.pb = nil
	}
}

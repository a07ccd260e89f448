// Package ops is what an operator runs beside (or instead of) the server:
// backup and restore of a data dir, and migrate-data between SQLite and
// Postgres. Every one of them walks the tables in store's registry
// (store.Tables) and the object store through blob.Storage; the command
// line (cmd/agentops) picks the drivers.
package ops

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Progress reports a long copy: per step (a table, the objects), the
// items and bytes done, the rate and the time left. On a terminal it
// redraws one line; elsewhere (logs, pipes) it prints one line per
// finished step. A nil *Progress reports nothing.
type Progress struct {
	w   io.Writer
	tty bool
	now func() time.Time

	mu      sync.Mutex
	name    string
	unit    string
	total   int64 // -1: unknown
	done    int64
	bytes   int64
	start   time.Time
	drawn   time.Time
	lineLen int
}

// NewProgress reports to w; tty says whether w is a terminal.
func NewProgress(w io.Writer, tty bool) *Progress {
	return &Progress{w: w, tty: tty, now: time.Now}
}

// Start begins a step of total items (-1 if unknown) named name.
func (p *Progress) Start(name, unit string, total int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.name, p.unit, p.total, p.done, p.bytes = name, unit, total, 0, 0
	p.start = p.now()
	p.drawn = time.Time{}
	p.draw(false)
}

// Add counts items and bytes done in the current step.
func (p *Progress) Add(items, bytes int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += items
	p.bytes += bytes
	if p.tty && p.now().Sub(p.drawn) >= 200*time.Millisecond {
		p.draw(false)
	}
}

// Skip sets the items and bytes a resumed step had done before.
func (p *Progress) Skip(items int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.done += items
	p.mu.Unlock()
}

// End finishes the current step.
func (p *Progress) End() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(true)
}

// Printf prints a line of its own (between steps).
func (p *Progress) Printf(format string, args ...any) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}

func (p *Progress) draw(final bool) {
	if !p.tty && !final {
		return
	}
	p.drawn = p.now()
	el := p.drawn.Sub(p.start)
	var b strings.Builder
	fmt.Fprintf(&b, "%-26s %s", p.name, count(p.done))
	if p.total >= 0 {
		fmt.Fprintf(&b, "/%s", count(p.total))
	}
	fmt.Fprintf(&b, " %s  %s", p.unit, mb(p.bytes))
	if secs := el.Seconds(); secs > 0.05 {
		rate := float64(p.done) / secs
		fmt.Fprintf(&b, "  %s %s/s  %.1f MB/s", count(int64(rate)), p.unit, float64(p.bytes)/secs/1e6)
		if !final && p.total > p.done && rate > 0 {
			left := time.Duration(float64(p.total-p.done) / rate * float64(time.Second))
			fmt.Fprintf(&b, "  ETA %s", left.Round(time.Second))
		}
	}
	if final {
		fmt.Fprintf(&b, "  in %s", el.Round(10*time.Millisecond))
	}
	line := b.String()
	if p.tty {
		pad := ""
		if n := p.lineLen - len(line); n > 0 {
			pad = strings.Repeat(" ", n)
		}
		fmt.Fprintf(p.w, "\r%s%s", line, pad)
		p.lineLen = len(line)
		if final {
			fmt.Fprintln(p.w)
			p.lineLen = 0
		}
		return
	}
	fmt.Fprintln(p.w, line)
}

// count renders n with thousands separators.
func count(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

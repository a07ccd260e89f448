package agent

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Watchdog enforces a turn's Deadlines: its context ends, with a cause
// that names the deadline, when no progress was reported for NoProgress
// (while not paused) or when TurnCap has passed.
type Watchdog struct {
	d      Deadlines
	cancel context.CancelCauseFunc
	kick   chan struct{}
	done   chan struct{}

	mu     sync.Mutex
	paused int
	last   time.Time
}

// ErrNoProgress and ErrTurnCap are the causes a Watchdog ends with.
type (
	ErrNoProgress struct{ After time.Duration }
	ErrTurnCap    struct{ After time.Duration }
)

func (e ErrNoProgress) Error() string {
	return fmt.Sprintf("the agent made no progress for %s (no-progress deadline)", e.After)
}

func (e ErrTurnCap) Error() string {
	return fmt.Sprintf("the turn ran longer than %s (turn deadline)", e.After)
}

// StartWatchdog returns a context that ends at the first deadline, and
// the watchdog; Stop it when the turn ends.
func StartWatchdog(ctx context.Context, d Deadlines) (context.Context, *Watchdog) {
	d = d.WithDefaults()
	ctx, cancel := context.WithCancelCause(ctx)
	w := &Watchdog{d: d, cancel: cancel, kick: make(chan struct{}, 1), done: make(chan struct{}), last: time.Now()}
	go w.loop(ctx)
	return ctx, w
}

func (w *Watchdog) loop(ctx context.Context) {
	defer close(w.done)
	capT := time.NewTimer(w.d.TurnCap)
	defer capT.Stop()
	idle := time.NewTimer(w.d.NoProgress)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-capT.C:
			w.cancel(ErrTurnCap{w.d.TurnCap})
			return
		case <-w.kick:
			idle.Reset(w.d.NoProgress)
		case <-idle.C:
			w.mu.Lock()
			last := w.last
			if w.d.LastWait != nil {
				if t := w.d.LastWait(); t.After(last) {
					last = t
				}
			}
			paused, since := w.paused > 0, time.Since(last)
			w.mu.Unlock()
			switch {
			case paused:
				idle.Reset(w.d.NoProgress)
			case since < w.d.NoProgress:
				idle.Reset(w.d.NoProgress - since)
			default:
				w.cancel(ErrNoProgress{w.d.NoProgress})
				return
			}
		}
	}
}

// Progress records a text, tool or step event.
func (w *Watchdog) Progress() {
	w.mu.Lock()
	w.last = time.Now()
	w.mu.Unlock()
}

// Pause stops the no-progress clock (a question or approval waits for a
// person) until the matching Resume.
func (w *Watchdog) Pause() {
	w.mu.Lock()
	w.paused++
	w.mu.Unlock()
}

// Resume undoes one Pause and restarts the no-progress clock.
func (w *Watchdog) Resume() {
	w.mu.Lock()
	if w.paused > 0 {
		w.paused--
	}
	w.last = time.Now()
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Stop ends the watchdog and waits for its goroutine.
func (w *Watchdog) Stop() {
	w.cancel(context.Canceled)
	<-w.done
}

package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/store"
)

// commit writes, in one transaction, the given changes, every dirty message
// and the runner's sequence mark; then it acknowledges the runner.
func (a *actor) commit(writes ...func(ctx context.Context, tx *store.Store) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dirty := a.tr.takeDirty()
	seq := a.pendingSeq
	active := a.sess.LastActiveAt
	now := a.now()
	err := a.m.st.InTx(ctx, func(tx *store.Store) error {
		if err := a.fence(ctx, tx); err != nil {
			return err
		}
		for _, w := range writes {
			if err := w(ctx, tx); err != nil {
				return err
			}
		}
		for _, m := range dirty {
			if err := tx.Messages().UpdateBody(ctx, m); err != nil {
				return err
			}
		}
		var cols []string
		if seq != a.sess.RunnerSeq {
			cols = append(cols, "runner_seq")
		}
		if !active.Equal(a.savedActive) {
			cols = append(cols, "last_active_at")
		}
		if len(cols) > 0 {
			s := *a.sess
			s.RunnerSeq, s.LastActiveAt, s.UpdatedAt = seq, active, now
			if err := tx.Sessions().Update(ctx, &s, cols...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		a.tr.markDirty(dirty)
		if errors.Is(err, store.ErrFenced) {
			a.fenced()
		}
		return err
	}
	acked := seq != a.sess.RunnerSeq
	a.sess.RunnerSeq = seq
	a.savedActive = active
	a.timers.clear(timerFlush)
	if acked {
		a.runner.send(frame(protocol.ServerFrame{Type: protocol.SAck, Seq: seq}))
	}
	return nil
}

// flush writes what is only in memory (streamed text, the sequence mark).
func (a *actor) flush() error {
	if !a.tr.hasDirty() && a.pendingSeq == a.sess.RunnerSeq && a.sess.LastActiveAt.Equal(a.savedActive) {
		a.timers.clear(timerFlush)
		return nil
	}
	return a.commit()
}

// saveSession writes columns of the session row.
func (a *actor) saveSession(columns ...string) func(ctx context.Context, tx *store.Store) error {
	return func(ctx context.Context, tx *store.Store) error {
		a.sess.UpdatedAt = a.now()
		return tx.Sessions().Update(ctx, a.sess, columns...)
	}
}

// setStatus moves the status machine and persists it.
func (a *actor) setStatus(to string, extra ...string) error {
	if a.sess.Status == to {
		return nil
	}
	if !CanTransition(a.sess.Status, to) {
		return fmt.Errorf("session %s: %s → %s is not allowed", a.id, a.sess.Status, to)
	}
	prev, started, active := a.sess.Status, a.sess.RunningStartedAt, a.sess.ActiveSeconds
	if prev == store.StatusRunning {
		extra = append(extra, a.endRunningPeriod()...)
	}
	a.sess.Status = to
	if err := a.commit(a.saveSession(append([]string{"status"}, extra...)...)); err != nil {
		a.sess.Status, a.sess.RunningStartedAt, a.sess.ActiveSeconds = prev, started, active
		return err
	}
	a.broadcast(statusFrame(map[string]any{"status": to}))
	a.m.publish(Event{Type: "session.update", SessionID: a.id, UserID: a.sess.UserID, Data: EventData{Status: to}})
	return nil
}

// endRunningPeriod adds the running period that ends now to the session's
// active seconds (upstream's active_seconds, which its client adds to the
// current period's runningStartedAt to show how long the sandbox ran) and
// returns the columns to save.
func (a *actor) endRunningPeriod() []string {
	if a.sess.RunningStartedAt.IsZero() {
		return nil
	}
	if d := a.now().Sub(a.sess.RunningStartedAt); d > 0 {
		a.sess.ActiveSeconds += int64(d / time.Second)
	}
	a.sess.RunningStartedAt = time.Time{}
	return []string{"active_seconds", "running_started_at"}
}

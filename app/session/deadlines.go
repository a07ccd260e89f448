package session

import (
	"context"
	"strings"
	"time"

	"github.com/agentops/agentops/app/sandbox"
	"github.com/agentops/agentops/store"
)

// Deadline names. Every durable deadline is derived from a time stored
// with the session (last_active_at, runner_lost_at, last_dispatched_at,
// a question's expires_at, a collected prompt's created_at), so an actor
// re-arms them from the database at start-up and they fire even if
// nothing asks for the session. Only the flush timer is memory-only.
const (
	timerIdle      = "idle"       // hibernate after the owner's idle timeout
	timerRevert    = "revert"     // runner gone 5 s: processing prompts back to the queue
	timerLost      = "lost"       // runner gone 60 s: respawn once, then sandbox_lost
	timerStuck     = "stuck"      // busy with no runner 5 min after dispatch
	timerIdleQueue = "idle-queue" // queued prompts of an idle, ready session
	timerCollect   = "collect"    // collect-mode debounce
	timerQuestion  = "question:"  // + question id: expiry
)

func (a *actor) timings() *Timings { return &a.m.cfg.Timings }

func (a *actor) idleTimeout() time.Duration {
	if a.timings().IdleTimeout > 0 {
		return a.timings().IdleTimeout
	}
	if a.owner != nil && a.owner.IdleTimeoutSeconds > 0 {
		return time.Duration(a.owner.IdleTimeoutSeconds) * time.Second
	}
	return a.timings().DefaultIdleTimeout
}

// touch records user or agent activity, which postpones idle hibernation.
func (a *actor) touch(now time.Time) {
	a.sess.LastActiveAt = now
	if a.sess.Status == store.StatusRunning {
		a.timers.set(timerIdle, now.Add(a.idleTimeout()))
	}
}

// armAll arms every deadline from the loaded state (start-up).
func (a *actor) armAll() {
	a.timers = newTimers()
	if store.IsTerminal(a.sess.Status) {
		return
	}
	if a.sess.Status == store.StatusRunning {
		a.timers.set(timerIdle, a.sess.LastActiveAt.Add(a.idleTimeout()))
	}
	if a.sess.Status == store.StatusRunning || a.sess.Status == store.StatusRestoring || a.sess.Status == store.StatusInitializing {
		// A new actor has no runner yet: the runner may be reconnecting.
		if a.sess.RunnerLostAt.IsZero() && a.sess.Status != store.StatusInitializing {
			a.sess.RunnerLostAt = a.m.now()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := a.m.st.Sessions().Update(ctx, a.sess, "runner_lost_at"); err != nil {
				a.log.Error("record runner loss at start-up", "err", err)
			}
			cancel()
		}
		if !a.sess.RunnerLostAt.IsZero() {
			a.armRunnerLost()
		}
	}
	if a.processingCount() > 0 && !a.sess.LastDispatchedAt.IsZero() {
		a.timers.set(timerStuck, a.sess.LastDispatchedAt.Add(a.timings().StuckProcessing))
	}
	var collectAt time.Time
	for _, q := range a.queue {
		if q.Status == store.PromptCollecting && q.CreatedAt.After(collectAt) {
			collectAt = q.CreatedAt
		}
	}
	if !collectAt.IsZero() {
		a.timers.set(timerCollect, collectAt.Add(a.timings().CollectDebounce))
	}
	if a.queuedCount() > 0 {
		a.armIdleQueue()
	}
	for _, q := range a.questions {
		if q.Answer == nil {
			a.timers.set(timerQuestion+q.QuestionID, q.ExpiresAt)
		}
	}
	a.armApprovals()
}

// armRunnerLost arms the revert and runner-lost deadlines from
// runner_lost_at.
func (a *actor) armRunnerLost() {
	lost := a.sess.RunnerLostAt
	if a.processingCount() > 0 || a.sess.RunnerBusy {
		a.timers.set(timerRevert, lost.Add(a.timings().RevertGrace))
	}
	a.timers.set(timerLost, lost.Add(a.timings().RunnerLost))
}

func (a *actor) armIdleQueue() {
	a.timers.setIfEarlier(timerIdleQueue, a.m.cfg.Now().Add(a.timings().IdleQueue))
}

func (a *actor) processingCount() int {
	n := 0
	for _, q := range a.queue {
		if q.Status == store.PromptProcessing {
			n++
		}
	}
	return n
}

// fire runs one deadline.
func (a *actor) fire(name string) {
	var err error
	switch {
	case name == timerFlush:
		if err := a.flush(); err != nil {
			a.fail("flush streamed text", err)
		}
		return
	case name == timerIdle:
		err = a.onIdle()
	case name == timerRevert:
		err = a.onRevertDeadline()
	case name == timerLost:
		err = a.onRunnerLost()
	case name == timerStuck:
		err = a.onStuck()
	case name == timerIdleQueue:
		err = a.onIdleQueue()
	case name == timerCollect:
		err = a.flushCollect()
	case strings.HasPrefix(name, timerQuestion):
		err = a.expireQuestion(strings.TrimPrefix(name, timerQuestion))
	case strings.HasPrefix(name, timerApproval):
		err = a.expireApproval(strings.TrimPrefix(name, timerApproval))
	}
	if err != nil {
		a.log.Error("deadline "+name, "err", err)
	}
}

// onIdle hibernates a running session nobody has used for the owner's idle
// timeout. A busy session is left alone (its activity would have moved the
// deadline); the deadline is armed again.
func (a *actor) onIdle() error {
	if a.sess.Status != store.StatusRunning {
		return nil
	}
	due := a.sess.LastActiveAt.Add(a.idleTimeout())
	if a.m.cfg.Now().Before(due) {
		a.timers.set(timerIdle, due)
		return nil
	}
	if a.sess.RunnerBusy || a.queuedCount() > 0 || a.collectingCount() > 0 {
		a.timers.set(timerIdle, a.m.cfg.Now().Add(a.idleTimeout()))
		return nil
	}
	a.log.Info("hibernating an idle session", "idle_for", a.m.cfg.Now().Sub(a.sess.LastActiveAt).Round(time.Second))
	return a.hibernate()
}

// onRevertDeadline: the runner has been gone for the grace period; what it
// was processing goes back to the queue so that the next runner gets it.
func (a *actor) onRevertDeadline() error {
	if a.runner.connected() {
		return nil
	}
	if a.processingCount() == 0 && !a.sess.RunnerBusy {
		return nil
	}
	write, cut := a.revertProcessing()
	if err := a.commit(write); err != nil {
		return err
	}
	cut()
	a.broadcast(statusFrame(map[string]any{"runnerBusy": false, "queuedPrompts": a.queuedCount(), "watchdogRecovery": true}))
	return nil
}

// onRunnerLost: no runner for RunnerLost.
func (a *actor) onRunnerLost() error {
	if a.runner.connected() || (a.sess.Status != store.StatusRunning && a.sess.Status != store.StatusRestoring) {
		return nil
	}
	return a.replaceRunner()
}

// replaceRunner starts a new runner for a session whose runner is gone: a
// local sandbox gets one new runner until a runner reports ready; if that
// one does not come either, the session ends as sandbox_lost (as upstream).
func (a *actor) replaceRunner() error {
	if a.strandedRunner() {
		return a.failStranded()
	}
	if a.m.sandbox != nil && a.m.sandbox.Name() == "local" && a.sess.RunnerRespawns == 0 {
		a.log.Warn("runner lost: starting a new one")
		a.sess.RunnerRespawns++
		a.sess.RunnerLostAt = a.now()
		if err := a.commit(a.saveSession("runner_respawns", "runner_lost_at")); err != nil {
			return err
		}
		token := newRunnerToken()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, err := a.spawnRequest(ctx, token)
		var sb sandbox.Sandbox
		if err == nil {
			sb, err = a.m.sandbox.Restore(ctx, req)
		}
		if err != nil {
			a.log.Error("respawn runner", "err", err)
		} else {
			a.sess.SandboxID, a.sess.RunnerTokenHash = sb.ID, hashToken(token)
			if err := a.commit(a.saveSession("sandbox_id", "runner_token_hash")); err != nil {
				return err
			}
		}
		a.armRunnerLost()
		return nil
	}
	a.log.Warn("runner lost for good: terminating the session")
	return a.terminate("sandbox_lost")
}

// onStuck: busy with no runner long after the last dispatch.
func (a *actor) onStuck() error {
	if !a.sess.RunnerBusy || a.processingCount() == 0 || a.runner.connected() {
		return nil
	}
	write, cut := a.revertProcessing()
	if err := a.commit(write); err != nil {
		return err
	}
	cut()
	a.broadcast(statusFrame(map[string]any{"runnerBusy": false, "watchdogRecovery": true}))
	a.drain()
	return nil
}

// onIdleQueue: prompts wait although the session could take them (a lost
// wake-up, or busy left set with nothing processing).
func (a *actor) onIdleQueue() error {
	if a.queuedCount() == 0 {
		return nil
	}
	if a.sess.RunnerBusy && a.processingCount() == 0 {
		a.sess.RunnerBusy = false
		if err := a.commit(a.saveSession("runner_busy")); err != nil {
			return err
		}
		a.broadcast(statusFrame(map[string]any{"runnerBusy": false, "watchdogRecovery": true}))
	}
	a.drain()
	if a.queuedCount() > 0 {
		a.armIdleQueue()
	}
	return nil
}

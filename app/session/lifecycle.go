package session

import (
	"context"
	"errors"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/sandbox"
	"github.com/agentops/agentops/store"
)

func (a *actor) spawnRequest(ctx context.Context, token string) (sandbox.SpawnRequest, error) {
	req := sandbox.SpawnRequest{SessionID: a.id, UserID: a.sess.UserID, ServerURL: a.m.cfg.RunnerURL, Token: token, Agent: a.sess.Agent}
	if a.m.cfg.Credentials != nil {
		env, err := a.m.cfg.Credentials.CredentialsEnv(ctx, a.sess.UserID)
		if err != nil {
			return req, err
		}
		req.Env = env
	}
	return req, nil
}

// spawn starts the sandbox of a new session (or restores a hibernated one).
func (a *actor) spawn(token string, restore bool) (sandbox.Sandbox, error) {
	if a.m.sandbox == nil {
		return sandbox.Sandbox{}, errors.New("no sandbox provider")
	}
	a.abandonApprovals("The agent's runner was restarted before anyone answered")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var sb sandbox.Sandbox
	req, err := a.spawnRequest(ctx, token)
	switch {
	case err != nil:
	case restore:
		sb, err = a.m.sandbox.Restore(ctx, req)
	default:
		sb, err = a.m.sandbox.Spawn(ctx, req)
	}
	if err != nil {
		a.sess.ErrorMessage = "sandbox failed to start: " + err.Error()
		if serr := a.setStatus(store.StatusError, "error_message"); serr != nil {
			a.log.Error("record sandbox failure", "err", serr)
		}
		a.m.publish(Event{Type: "session.errored", SessionID: a.id, UserID: a.sess.UserID, Data: EventData{Error: a.sess.ErrorMessage}})
		if a.sess.Status == store.StatusError {
			a.endSockets()
		}
		a.stopped = true
		return sb, &apperr.Error{Kind: apperr.KindUnavailable, Message: a.sess.ErrorMessage, Err: err}
	}
	a.sess.SandboxID = sb.ID
	a.sess.RunnerTokenHash = hashToken(token)
	a.sess.RunningStartedAt = a.now()
	if err := a.setStatus(store.StatusRunning, "sandbox_id", "runner_token_hash", "running_started_at"); err != nil {
		return sb, err
	}
	return sb, nil
}

func (a *actor) hibernate() error {
	switch a.sess.Status {
	case store.StatusHibernated, store.StatusHibernating:
		return nil
	case store.StatusRunning:
	default:
		return ErrNotActive
	}
	if err := a.setStatus(store.StatusHibernating); err != nil {
		return err
	}
	if err := a.flush(); err != nil {
		return err
	}
	a.sendRunner(protocol.ServerFrame{Type: protocol.SStop})
	if a.runner.conn != nil {
		a.runner.conn.Close(protocol.CloseNormal, "Session hibernated")
		a.runner.detach(a.runner.conn)
	}
	return a.completeHibernate()
}

// completeHibernate stops the sandbox of a hibernating session and marks
// it hibernated (waking it again if prompts wait). A restart in the middle
// of a hibernation finishes it here (finishInterrupted).
func (a *actor) completeHibernate() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if a.m.sandbox != nil {
		if err := a.m.sandbox.Hibernate(ctx, a.id); err != nil {
			a.log.Error("hibernate sandbox", "err", err)
		}
	}
	write, cut := a.revertProcessing()
	if err := a.commit(write); err != nil {
		return err
	}
	cut()
	a.sess.SandboxID = ""
	if err := a.setStatus(store.StatusHibernated, "sandbox_id"); err != nil {
		return err
	}
	// What is left to fire are the questions' and collected prompts'
	// deadlines, as when armAll loads a hibernated session: the others
	// watch a runner the session no longer has (an idle actor is released).
	for _, name := range []string{timerIdle, timerRevert, timerLost, timerStuck, timerIdleQueue} {
		a.timers.clear(name)
	}
	if a.queuedCount() > 0 { // prompts wait: wake right away
		return a.wake()
	}
	return nil
}

// finishInterrupted completes, after a restart, a transition that the
// previous server was cut off in the middle of: a hibernation (the session
// would stay "hibernating", taking prompts it never runs), or the start of
// an interactive session whose sandbox was never spawned (workflow
// sessions are restarted by the workflow reconcile job).
func (a *actor) finishInterrupted() error {
	switch {
	case a.sess.Status == store.StatusHibernating:
		a.log.Info("finishing a hibernation a restart interrupted")
		return a.completeHibernate()
	case a.sess.Status == store.StatusInitializing && a.sess.SandboxID == "" && a.sess.Purpose != store.PurposeWorkflow:
		a.log.Info("starting a session whose start a restart interrupted")
		_, err := a.spawn(newRunnerToken(), false)
		return err
	}
	return nil
}

func (a *actor) wake() error {
	switch a.sess.Status {
	case store.StatusRunning, store.StatusRestoring, store.StatusInitializing:
		return nil
	case store.StatusHibernated:
	default:
		return ErrNotActive
	}
	if err := a.setStatus(store.StatusRestoring); err != nil {
		return err
	}
	_, err := a.spawn(newRunnerToken(), true)
	return err
}

// terminate ends the session: the runner is told to stop, the sandbox is
// stopped, queued prompts are dropped, sockets close.
func (a *actor) terminate(reason string) error { return a.end(store.StatusTerminated, reason) }

// end ends the session with status (terminated, or error with
// a.sess.ErrorMessage set): see terminate. A repoPath session's worktree
// is removed once the runner is stopped; its branch stays.
func (a *actor) end(status, reason string) error {
	if store.IsTerminal(a.sess.Status) {
		a.stopped = true
		return nil
	}
	if err := a.flush(); err != nil {
		a.log.Error("flush before terminate", "err", err)
	}
	a.sendRunner(protocol.ServerFrame{Type: protocol.SStop})
	if a.runner.conn != nil {
		a.runner.conn.Close(protocol.CloseSessionEnded, "Session terminated")
		a.runner.detach(a.runner.conn)
	}
	if a.m.sandbox != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := a.m.sandbox.Terminate(ctx, a.id); err != nil {
			a.log.Error("terminate sandbox", "err", err)
		}
		a.removeWorktree(ctx)
		cancel()
	}
	a.failDiffs(ErrNotActive)
	// The queue, the questions and the deadlines go only once the end
	// is stored: if the write fails the session goes on as it was, its
	// deadlines armed.
	prev := *a.sess
	cols := append([]string{"status", "runner_busy", "ended_at", "sandbox_id"}, a.endRunningPeriod()...)
	a.sess.RunnerBusy = false
	a.sess.EndedAt = a.now()
	a.sess.SandboxID = ""
	a.sess.Status = status
	err := a.commit(func(ctx context.Context, tx *store.Store) error {
		if _, err := tx.PromptQueue().DeleteAll(ctx, a.id); err != nil {
			return err
		}
		if err := tx.InteractivePrompts().DeleteAll(ctx, a.id); err != nil {
			return err
		}
		return a.saveSession(append(cols, "error_message")...)(ctx, tx)
	})
	if err != nil {
		*a.sess = prev
		return err
	}
	a.queue = nil
	a.questions = map[string]*store.InteractivePrompt{}
	a.approvals = map[string]*store.ActionInvocation{}
	a.timers = newTimers()
	data := map[string]any{"status": status, "reason": reason, "runnerConnected": false}
	if status == store.StatusError {
		data["error"] = a.sess.ErrorMessage
	}
	a.broadcast(statusFrame(data))
	a.endSockets() // browsers stay, as upstream's
	if status == store.StatusError {
		a.m.publish(Event{Type: "session.errored", SessionID: a.id, UserID: a.sess.UserID, Data: EventData{Status: status, Reason: reason, Error: a.sess.ErrorMessage}})
	} else {
		a.m.publish(Event{Type: "session.completed", SessionID: a.id, UserID: a.sess.UserID, Data: EventData{Status: status, Reason: reason}})
	}
	a.stopped = true
	return nil
}

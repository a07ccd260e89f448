package session

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/store"
)

// WorkflowHooks connect workflow-purpose sessions to the workflow executor
// (app/workflow), which this package does not know. Both methods run on
// the session's actor, inside the transaction that also records the
// runner's state, so what they write and what the actor acknowledges to
// the runner commit together.
type WorkflowHooks interface {
	// Dispatch returns the workflow-execute the session's runner should
	// get now, if any (the runner has just become ready, or was kicked).
	// It may instead end the session (an execution that cannot be sent).
	Dispatch(ctx context.Context, tx *store.Store, sessionID string) (*protocol.WorkflowDispatch, WorkflowOutcome, error)
	// Result applies a runner's workflow-execution-result.
	Result(ctx context.Context, tx *store.Store, sessionID string, f *protocol.RunnerFrame) (WorkflowOutcome, error)
}

// WorkflowOutcome is what the session does after a hook's transaction
// committed.
type WorkflowOutcome struct {
	// Terminate ends the session with Reason (the execution is over);
	// Hibernate stops its runner and keeps the workspace (the execution
	// waits for an approval, which wakes it).
	Terminate bool
	Hibernate bool
	Reason    string
	// After runs once the transaction committed: events, notifications.
	After func()
}

// SetWorkflowHooks installs the workflow executor's hooks. Call it before
// Start; without hooks, workflow frames are refused.
func (m *Manager) SetWorkflowHooks(h WorkflowHooks) { m.workflows = h }

// NewWorkflowSession returns the row of a new workflow-purpose session of
// the user, for the caller to insert in the transaction that creates its
// execution. It starts when KickWorkflow is called.
func (m *Manager) NewWorkflowSession(userID, workspace string) *store.Session {
	now := m.now()
	agentName, err := m.chooseAgent(context.Background(), userID, "")
	if err != nil {
		agentName = "script"
	}
	return &store.Session{ID: uuid.NewString(), UserID: userID, Workspace: workspace, Status: store.StatusInitializing,
		Purpose: store.PurposeWorkflow, Agent: agentName, QueueMode: ModeFollowup,
		LastActiveAt: now, CreatedAt: now, UpdatedAt: now}
}

// KickWorkflow makes a workflow session work on its execution: a session
// that never started gets its sandbox, a hibernated one is woken, and a
// running one with a ready, idle runner is asked for a dispatch now.
// Otherwise the runner's ready signal dispatches.
func (m *Manager) KickWorkflow(ctx context.Context, id string) error {
	err := m.actors.withActor(ctx, id, func(a *actor) error { return a.kickWorkflow() })
	if errors.Is(err, errGone) {
		return ErrNotActive
	}
	return err
}

// EndWorkflowSession terminates a workflow session (its execution ended
// outside the runner: cancelled, denied, completed over REST, timed out).
func (m *Manager) EndWorkflowSession(ctx context.Context, id, reason string) error {
	err := m.actors.withActor(ctx, id, func(a *actor) error { return a.terminate(reason) })
	if errors.Is(err, errGone) || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

func (a *actor) kickWorkflow() error {
	if a.sess.Purpose != store.PurposeWorkflow {
		return apperr.Invalid("", "not a workflow session")
	}
	switch a.sess.Status {
	case store.StatusInitializing:
		if a.sess.SandboxID == "" && !a.runner.connected() {
			_, err := a.spawn(newRunnerToken(), false)
			return err
		}
	case store.StatusHibernated:
		return a.wake()
	case store.StatusRunning:
		a.dispatchWorkflow()
	}
	return nil
}

// dispatchWorkflow sends the session's execution to a ready, idle runner
// (workflow sessions only). The runner counts as busy until its result:
// the idle deadline leaves a busy session alone.
func (a *actor) dispatchWorkflow() {
	h := a.m.workflows
	if h == nil || a.sess.Purpose != store.PurposeWorkflow || !a.canDispatch() {
		return
	}
	var d *protocol.WorkflowDispatch
	var out WorkflowOutcome
	err := a.commit(func(ctx context.Context, tx *store.Store) error {
		var err error
		if d, out, err = h.Dispatch(ctx, tx, a.id); err != nil || d == nil {
			return err
		}
		a.sess.RunnerBusy, a.sess.LastDispatchedAt = true, a.now()
		return a.saveSession("runner_busy", "last_dispatched_at")(ctx, tx)
	})
	if err != nil {
		a.sess.RunnerBusy = false
		a.log.Error("dispatch workflow", "err", err)
		return
	}
	if d == nil {
		a.workflowOutcome(out)
		return
	}
	a.log.Info("workflow dispatched", "execution_id", d.ExecutionID, "kind", d.Kind, "attempt", d.Payload.Runtime.Attempt)
	if !a.runner.send(frame(protocol.ServerFrame{Type: protocol.SWorkflowExecute, ExecutionID: d.ExecutionID, Workflow: d})) {
		// No runner after all: the next ready signal dispatches again.
		a.sess.RunnerBusy = false
		if err := a.commit(a.saveSession("runner_busy")); err != nil {
			a.log.Error("record workflow dispatch failure", "err", err)
		}
		return
	}
	a.broadcast(statusFrame(map[string]any{"runnerBusy": true}))
}

// workflowResult applies a workflow-execution-result frame: the writes go
// into the frame's transaction, the outcome runs after it.
func (a *actor) workflowResult(f *protocol.RunnerFrame) (func(ctx context.Context, tx *store.Store) error, func()) {
	h := a.m.workflows
	var out WorkflowOutcome
	a.sess.RunnerBusy = false
	write := func(ctx context.Context, tx *store.Store) error {
		if h == nil {
			return nil
		}
		var err error
		if out, err = h.Result(ctx, tx, a.id, f); err != nil {
			return err
		}
		return a.saveSession("runner_busy")(ctx, tx)
	}
	after := func() {
		a.broadcast(statusFrame(map[string]any{"runnerBusy": false}))
		a.workflowOutcome(out)
	}
	return write, after
}

func (a *actor) workflowOutcome(out WorkflowOutcome) {
	if out.After != nil {
		out.After()
	}
	var err error
	switch {
	case out.Terminate:
		err = a.terminate(out.Reason)
	case out.Hibernate:
		err = a.hibernate()
	}
	if err != nil {
		a.log.Error("end workflow session", "reason", out.Reason, "err", err)
	}
}

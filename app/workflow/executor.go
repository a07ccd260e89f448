package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/session"
	"github.com/agentops/agentops/store"
)

// Hooks are the session actor's side of the executor (session.WorkflowHooks).
func (s *Service) Hooks() session.WorkflowHooks { return hooks{s} }

type hooks struct{ s *Service }

// Dispatch builds the workflow-execute for the session's execution: a run,
// or, after an approval, a resume. Every dispatch is a new attempt; a run
// dispatched again (its runner was lost) starts over.
func (h hooks) Dispatch(ctx context.Context, tx *store.Store, sessionID string) (*protocol.WorkflowDispatch, session.WorkflowOutcome, error) {
	s := h.s
	execs, err := tx.Executions().ListActiveBySession(ctx, sessionID)
	if err != nil {
		return nil, session.WorkflowOutcome{}, err
	}
	for i := range execs {
		e := &execs[i]
		if e.Status == store.ExecWaitingApproval {
			continue
		}
		if err := lockExecution(ctx, tx, e.ID); err != nil {
			return nil, session.WorkflowOutcome{}, err
		}
		e.AttemptCount++
		d := &protocol.WorkflowDispatch{Kind: protocol.WorkflowRun, ExecutionID: e.ID, WorkflowHash: e.WorkflowHash,
			Payload: protocol.WorkflowPayload{Workflow: e.Snapshot, Variables: e.Variables,
				Trigger: mustCanonical(map[string]any{"type": e.TriggerType, "triggerId": nullable(e.TriggerID)}),
				Runtime: protocol.WorkflowRuntime{Attempt: e.AttemptCount, IdempotencyKey: e.IdempotencyKey}}}
		if e.Decision == "approve" && e.ResumeStepID != "" {
			d.Kind, d.Decision = protocol.WorkflowResume, e.Decision
			d.Payload.Outputs, d.Payload.ResumeStepID, d.Payload.ResumeAttempt = e.Outputs, e.ResumeStepID, e.ResumeAttempt
		}
		if b, _ := json.Marshal(protocol.ServerFrame{Type: protocol.SWorkflowExecute, ExecutionID: e.ID, Workflow: d}); len(b) > protocol.MaxFrameBytes-1024 {
			cols := s.finish(e, store.ExecFailed, fmt.Sprintf("payload_too_large: the definition and variables take %d bytes; a runner frame holds %d", len(b), protocol.MaxFrameBytes))
			if err := tx.Executions().Update(ctx, e, cols...); err != nil {
				return nil, session.WorkflowOutcome{}, err
			}
			return nil, session.WorkflowOutcome{Terminate: true, Reason: "workflow_execution_failed",
				After: func() { s.publish(context.Background(), e) }}, nil
		}
		wasPending := e.Status == store.ExecPending
		e.Status = store.ExecRunning
		cols := []string{"status", "attempt_count"}
		if e.DispatchedAt.IsZero() {
			e.DispatchedAt, cols = s.now(), append(cols, "dispatched_at")
		}
		if err := tx.Executions().Update(ctx, e, cols...); err != nil {
			return nil, session.WorkflowOutcome{}, err
		}
		var out session.WorkflowOutcome
		if wasPending {
			out.After = func() { s.publish(context.Background(), e) }
		}
		return d, out, nil
	}
	return nil, session.WorkflowOutcome{}, nil
}

func mustCanonical(v any) json.RawMessage {
	b, err := Canonical(v)
	if err != nil {
		panic(err) // only maps of strings
	}
	return b
}

// Result records a run's envelope: the step trace, the outputs and the new
// status. A finished execution ends its session; one waiting for approval
// hibernates it (the approval wakes it) and notifies its owner. A result
// for an execution that is not running (cancelled meanwhile) or not this
// session's is dropped.
func (h hooks) Result(ctx context.Context, tx *store.Store, sessionID string, f *protocol.RunnerFrame) (session.WorkflowOutcome, error) {
	s := h.s
	none := session.WorkflowOutcome{}
	if err := lockExecution(ctx, tx, f.ExecutionID); err != nil {
		return none, err
	}
	e, err := tx.Executions().Get(ctx, f.ExecutionID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && e.SessionID != sessionID) {
		s.log.Warn("workflow result for an execution this session does not run", "execution_id", f.ExecutionID, "session_id", sessionID)
		return none, nil
	} else if err != nil {
		return none, err
	}
	if e.Status != store.ExecRunning {
		s.log.Info("dropping the result of an execution that is no longer running", "execution_id", e.ID, "status", e.Status)
		return none, nil
	}
	env := f.Envelope
	now := s.now()
	idx := StepIndex(e.Snapshot)
	recs := make([]store.ExecutionStep, 0, len(env.Steps))
	for _, st := range env.Steps {
		if st.StepID == "" {
			continue
		}
		status := st.Status
		if !contains(stepStatuses, status) {
			status = store.ExecFailed
		}
		rec := store.ExecutionStep{StepID: st.StepID, Attempt: max(st.Attempt, 1), Status: status, Input: jsonOrNil(st.Input),
			Output: jsonOrNil(st.Output), Error: st.Error}
		rec.StartedAt, _ = parseTime(st.StartedAt)
		rec.CompletedAt, _ = parseTime(st.CompletedAt)
		if i, ok := idx[st.StepID]; ok {
			rec.WorkflowStepIndex = &i
		}
		recs = append(recs, rec)
	}
	if err := tx.ExecutionSteps().Record(ctx, e.ID, recs, now, newID); err != nil {
		return none, err
	}
	outputs := env.Output
	if outputs == nil {
		outputs = map[string]any{}
	}
	if e.Outputs, err = json.Marshal(outputs); err != nil {
		return none, err
	}
	envErr := ""
	if env.Error != nil {
		envErr = *env.Error
	}
	var cols []string
	switch env.Status {
	case protocol.EnvelopeOK:
		cols = s.finish(e, store.ExecCompleted, "")
	case protocol.EnvelopeNeedsApproval:
		if env.RequiresApproval == nil || env.RequiresApproval.StepID == "" {
			cols = s.finish(e, store.ExecFailed, "invalid_envelope: needs_approval without requiresApproval.stepId")
			break
		}
		e.Status, e.Decision = store.ExecWaitingApproval, ""
		e.ResumeToken, e.ResumeStepID, e.ResumeAttempt = newResumeToken(), env.RequiresApproval.StepID, e.AttemptCount
		e.ApprovalPrompt, e.ApprovalRequestedAt, e.Error = env.RequiresApproval.Prompt, now, ""
		cols = []string{"status", "decision", "resume_token", "resume_step_id", "resume_attempt", "approval_prompt",
			"approval_requested_at", "error"}
	case protocol.EnvelopeCancelled:
		if envErr == "" {
			envErr = "cancelled"
		}
		cols = s.finish(e, store.ExecCancelled, envErr)
	default:
		if envErr == "" {
			envErr = "workflow_failed"
		}
		cols = s.finish(e, store.ExecFailed, envErr)
	}
	if err := tx.Executions().Update(ctx, e, append(cols, "outputs")...); err != nil {
		return none, err
	}
	out := session.WorkflowOutcome{After: func() { s.publish(context.Background(), e) }}
	switch e.Status {
	case store.ExecWaitingApproval:
		out.Hibernate = true
		out.After = func() {
			s.publish(context.Background(), e)
			if s.notify != nil {
				if err := s.notify.ApprovalRequested(context.Background(), e.UserID, e.ID, e.SessionID, e.ApprovalPrompt); err != nil {
					s.log.Warn("notify approval request", "execution_id", e.ID, "err", err)
				}
			}
		}
	default:
		out.Terminate, out.Reason = true, "workflow_execution_"+e.Status
	}
	return out, nil
}

// Reconcile limits.
const (
	reconcileBatch = 500
	// kickAfter: a pending execution whose session has not started this
	// long after its last change is started again.
	kickAfter = time.Minute
	// tickRetention is how long schedule claims are kept.
	tickRetention = 48 * time.Hour
)

// ReconcileStats reports one reconcile run.
type ReconcileStats struct {
	TimedOut, Failed, Kicked, PrunedTicks int
}

// Reconcile repairs what no runner will: executions waiting for approval
// longer than ApprovalTimeout are cancelled (approval_timeout); active
// executions whose session died (terminated, errored, archived, deleted)
// fail with workflow_session_<status>; executions whose session never
// started or sleeps (a crash between commit and start, a failed wake) are
// started again; old schedule claims are pruned. It runs every minute.
func (s *Service) Reconcile(ctx context.Context) (ReconcileStats, error) {
	var st ReconcileStats
	now := s.now()
	active, err := s.st.Executions().ListActive(ctx, reconcileBatch)
	if err != nil {
		return st, err
	}
	var errs []error
	for i := range active {
		a := &active[i]
		switch {
		case a.Status == store.ExecWaitingApproval && now.Sub(a.ApprovalRequestedAt) > s.cfg.ApprovalTimeout:
			if ok, err := s.finishIf(ctx, a.ID, store.ExecWaitingApproval, store.ExecCancelled, "approval_timeout"); err != nil {
				errs = append(errs, err)
			} else if ok {
				st.TimedOut++
			}
		case a.Status == store.ExecWaitingApproval:
		case a.SessionStatus == "" || store.IsTerminal(a.SessionStatus):
			why := "workflow_session_missing"
			if a.SessionStatus != "" {
				why = "workflow_session_" + a.SessionStatus
			}
			if ok, err := s.finishIf(ctx, a.ID, a.Status, store.ExecFailed, why); err != nil {
				errs = append(errs, err)
			} else if ok {
				st.Failed++
			}
		case (a.SessionStatus == store.StatusInitializing || a.SessionStatus == store.StatusHibernated) && now.Sub(a.UpdatedAt) > kickAfter:
			if err := s.sessions.KickWorkflow(ctx, a.SessionID); err != nil {
				s.log.Warn("reconcile: start workflow session", "execution_id", a.ID, "session_id", a.SessionID, "err", err)
			} else {
				st.Kicked++
			}
		}
	}
	n, err := s.st.Triggers().PruneTicks(ctx, now.Add(-tickRetention))
	st.PrunedTicks = n
	errs = append(errs, err)
	if st.TimedOut+st.Failed+st.Kicked > 0 {
		s.log.Info("workflow reconcile", "approvals_timed_out", st.TimedOut, "failed", st.Failed, "restarted", st.Kicked)
	}
	return st, errors.Join(errs...)
}

// finishIf ends an execution that is still in status from, and reports
// whether it did.
func (s *Service) finishIf(ctx context.Context, id, from, to, why string) (bool, error) {
	var e *store.Execution
	err := s.st.InTx(ctx, func(tx *store.Store) error {
		if err := lockExecution(ctx, tx, id); err != nil {
			return err
		}
		var err error
		if e, err = tx.Executions().Get(ctx, id); err != nil {
			return err
		}
		if e.Status != from {
			e = nil
			return nil
		}
		return tx.Executions().Update(ctx, e, s.finish(e, to, why)...)
	})
	if err != nil || e == nil {
		return false, err
	}
	s.afterFinal(ctx, e)
	return true, nil
}

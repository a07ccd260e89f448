package workflow

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/store"
)

// startSpec is everything an execution is created from.
type startSpec struct {
	userID      string
	wf          *store.Workflow
	trigger     *store.Trigger // nil: a manual run without a trigger
	triggerType string
	variables   map[string]any
	metadata    map[string]any
	key         string    // idempotency key; "" for none
	tick        time.Time // schedules: the (trigger, minute) claimed with the execution
}

// Started is the result of starting an execution.
type Started struct {
	Execution *store.Execution
	Workflow  *store.Workflow
	Variables map[string]any
	// Duplicate: the idempotency key was used already; Execution is the
	// execution it started.
	Duplicate bool
	// Dispatched: the execution's session was started (or woken).
	Dispatched bool
	// Skipped: a schedule tick another replica (or an earlier run) had
	// claimed, or one over the concurrency limits.
	Skipped bool
}

// limitError is upstream's 429 for the concurrency limits.
func (s *Service) limitError(user, global int, extra map[string]any) error {
	reason := fmt.Sprintf("per_user_limit_exceeded:%d", s.cfg.MaxPerUser)
	if user < s.cfg.MaxPerUser {
		reason = fmt.Sprintf("global_limit_exceeded:%d", s.cfg.MaxGlobal)
	}
	e := &apperr.Error{Kind: apperr.KindTooMany, Code: "CONCURRENCY_LIMIT", Message: "Too many concurrent workflow executions",
		Extra: map[string]any{"reason": reason, "activeUser": user, "activeGlobal": global}}
	for k, v := range extra {
		e.Extra[k] = v
	}
	return e
}

// workspaceName is a workflow session's workspace, as upstream names it.
func workspaceName(workflowID, executionID string) string {
	if len(workflowID) > 60 {
		workflowID = workflowID[:60]
	}
	return "workflow-" + workflowID + "-" + executionID[:8]
}

// start creates an execution and its session in one transaction, then
// starts the session. The limits and the idempotency key are checked under
// a lock, so concurrent starts (and replicas) cannot exceed the limits or
// start one key twice.
func (s *Service) start(ctx context.Context, sp startSpec, limitExtra map[string]any) (*Started, error) {
	vars, err := Canonical(sp.variables)
	if err != nil {
		return nil, err
	}
	var meta json.RawMessage
	if sp.metadata != nil {
		if meta, err = Canonical(sp.metadata); err != nil {
			return nil, err
		}
	}
	out := &Started{Workflow: sp.wf, Variables: sp.variables}
	now := s.now()
	e := &store.Execution{ID: newID(), UserID: sp.userID, WorkflowUID: sp.wf.UID, WorkflowID: sp.wf.ID, WorkflowName: sp.wf.Name,
		WorkflowVersion: sp.wf.Version, WorkflowHash: sp.wf.Hash, Snapshot: sp.wf.Data, TriggerType: sp.triggerType,
		TriggerMetadata: meta, Variables: vars, Status: store.ExecPending, IdempotencyKey: sp.key, StartedAt: now, UpdatedAt: now}
	if sp.trigger != nil {
		e.TriggerID = sp.trigger.ID
	}
	duplicate := func() (*Started, error) {
		prev, err := s.st.Executions().GetByIdempotencyKey(ctx, sp.userID, sp.key)
		if err != nil {
			return nil, err
		}
		out.Execution, out.Duplicate = prev, true
		return out, nil
	}
	// A repeat is answered without the lock; a race between two firsts
	// is settled by the key's unique index.
	if sp.key != "" && sp.tick.IsZero() {
		if dup, err := duplicate(); err == nil {
			return dup, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		// The lock serializes starts (and replicas' starts), so the limits
		// hold; the work under it is kept to the count and two inserts.
		if err := tx.LockKey(ctx, "workflow.executions"); err != nil {
			return err
		}
		if !sp.tick.IsZero() {
			won, err := tx.Triggers().ClaimTick(ctx, sp.trigger.ID, sp.tick, now)
			if err != nil {
				return err
			}
			if !won {
				out.Skipped = true
				return nil
			}
		}
		user, global, err := tx.Executions().CountActive(ctx, sp.userID)
		if err != nil {
			return err
		}
		if user >= s.cfg.MaxPerUser || global >= s.cfg.MaxGlobal {
			if !sp.tick.IsZero() {
				// Schedules skip the tick (it stays claimed), as upstream's do.
				s.log.Warn("schedule tick skipped: too many active executions", "trigger_id", sp.trigger.ID,
					"tick", sp.tick, "active_user", user, "active_global", global)
				out.Skipped = true
				return nil
			}
			if sp.key != "" {
				// A repeat of a first that committed while this waited for
				// the lock is still a repeat.
				if prev, err := tx.Executions().GetByIdempotencyKey(ctx, sp.userID, sp.key); err == nil {
					out.Execution, out.Duplicate = prev, true
					return nil
				}
			}
			return s.limitError(user, global, limitExtra)
		}
		sess := s.sessions.NewWorkflowSession(sp.userID, workspaceName(sp.wf.ID, e.ID))
		if err := tx.Sessions().Create(ctx, sess); err != nil {
			return err
		}
		e.SessionID = sess.ID
		if err := tx.Executions().Insert(ctx, e); err != nil {
			return err
		}
		out.Execution = e
		return nil
	})
	if errors.Is(err, store.ErrConflict) && sp.key != "" {
		return duplicate()
	}
	if err != nil {
		return nil, err
	}
	if out.Skipped || out.Duplicate {
		return out, nil
	}
	if sp.trigger != nil {
		if err := s.st.Triggers().SetLastRun(ctx, sp.trigger.ID, now); err != nil {
			s.log.Warn("record trigger run", "trigger_id", sp.trigger.ID, "err", err)
		}
	}
	s.publish(ctx, e)
	if err := s.sessions.KickWorkflow(context.WithoutCancel(ctx), e.SessionID); err != nil {
		// The reconcile job starts it again, or fails it if its session died.
		s.log.Warn("start workflow session", "execution_id", e.ID, "session_id", e.SessionID, "err", err)
	} else {
		out.Dispatched = true
	}
	return out, nil
}

// RunInput is a manual run: POST /api/triggers/manual/run or
// /api/triggers/:id/run.
type RunInput struct {
	WorkflowID      string // manual/run only: id or slug
	ClientRequestID string
	Variables       map[string]any
	// Body is the whole request body: a trigger's variable mapping reads
	// it (upstream: "top-level body keys").
	Body map[string]any
	// Repository hints, passed on as variables when set.
	RepoURL, Branch, Ref, SourceRepoFullName string
}

func (in RunInput) check() error {
	if in.ClientRequestID != "" && (len(in.ClientRequestID) < 8 || len(in.ClientRequestID) > 200) {
		return apperr.Invalid("clientRequestId", "clientRequestId must be 8 to 200 characters")
	}
	return nil
}

func (in RunInput) variables() map[string]any {
	vars := map[string]any{}
	for k, v := range in.Variables {
		vars[k] = v
	}
	for k, v := range map[string]string{"repoUrl": in.RepoURL, "branch": in.Branch, "ref": in.Ref, "sourceRepoFullName": in.SourceRepoFullName} {
		if v != "" {
			vars[k] = v
		}
	}
	return vars
}

// RunWorkflow runs one of the user's workflows with no trigger.
func (s *Service) RunWorkflow(ctx context.Context, userID string, in RunInput) (*Started, error) {
	if strings.TrimSpace(in.WorkflowID) == "" {
		return nil, apperr.Invalid("workflowId", "workflowId is required")
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	w, err := s.Get(ctx, userID, in.WorkflowID)
	if err != nil {
		return nil, err
	}
	if !w.Enabled {
		return nil, apperr.Invalid("workflowId", "Workflow %s is disabled", w.ID)
	}
	vars := in.variables()
	vars["_trigger"] = map[string]any{"type": store.TriggerManual, "timestamp": s.now().Format(time.RFC3339Nano)}
	key := ""
	if in.ClientRequestID != "" {
		key = "manual:" + w.UID + ":" + in.ClientRequestID
	}
	return s.start(ctx, startSpec{userID: userID, wf: w, triggerType: store.TriggerManual, variables: vars, key: key,
		metadata: map[string]any{"clientRequestId": nullable(in.ClientRequestID)}}, nil)
}

// RunTrigger runs one of the user's triggers by hand (any type); its
// variable mapping reads the request body.
func (s *Service) RunTrigger(ctx context.Context, userID, triggerID string, in RunInput) (*Started, error) {
	if err := in.check(); err != nil {
		return nil, err
	}
	t, err := s.trigger(ctx, userID, triggerID)
	if err != nil {
		return nil, err
	}
	w, err := s.st.Workflows().GetByUID(ctx, t.WorkflowUID)
	if err != nil {
		return nil, err
	}
	if !w.Enabled {
		return nil, apperr.Invalid("", "Workflow %s is disabled", w.ID)
	}
	vars := in.variables()
	if len(t.VariableMapping) > 0 {
		var mapping map[string]string
		_ = json.Unmarshal(t.VariableMapping, &mapping)
		ApplyMapping(mapping, in.Body, vars)
	}
	vars["_trigger"] = map[string]any{"type": store.TriggerManual, "triggerId": t.ID, "timestamp": s.now().Format(time.RFC3339Nano)}
	key := ""
	if in.ClientRequestID != "" {
		key = "manual:" + w.UID + ":" + in.ClientRequestID
	}
	return s.start(ctx, startSpec{userID: userID, wf: w, trigger: t, triggerType: store.TriggerManual, variables: vars, key: key,
		metadata: map[string]any{"clientRequestId": nullable(in.ClientRequestID), "triggerName": t.Name}}, nil)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// execution returns the user's execution; others' are not found.
func (s *Service) execution(ctx context.Context, st *store.Store, userID, id string) (*store.Execution, error) {
	e, err := st.Executions().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && e.UserID != userID) {
		return nil, apperr.NotFound("Execution")
	}
	return e, err
}

// ExecutionFilter narrows ListExecutions.
type ExecutionFilter struct {
	WorkflowID string // id or slug
	Status     string
}

var execStatuses = []string{store.ExecPending, store.ExecRunning, store.ExecWaitingApproval, store.ExecCompleted,
	store.ExecFailed, store.ExecCancelled}

// ListExecutions returns the user's executions, newest first.
func (s *Service) ListExecutions(ctx context.Context, userID string, f ExecutionFilter, limit, offset int) ([]store.Execution, error) {
	sf := store.ExecutionFilter{UserID: userID, Status: f.Status}
	if f.Status != "" && !contains(execStatuses, f.Status) {
		return nil, apperr.Invalid("status", "status must be one of %s", strings.Join(execStatuses, ", "))
	}
	if f.WorkflowID != "" {
		w, err := s.st.Workflows().Get(ctx, userID, f.WorkflowID)
		if errors.Is(err, store.ErrNotFound) {
			return []store.Execution{}, nil
		} else if err != nil {
			return nil, err
		}
		sf.WorkflowUID = w.UID
	}
	return s.st.Executions().List(ctx, sf, limit, offset)
}

// WorkflowExecutions returns one workflow's executions (404 for an
// unknown workflow).
func (s *Service) WorkflowExecutions(ctx context.Context, userID, idOrSlug string, limit, offset int) ([]store.Execution, error) {
	w, err := s.Get(ctx, userID, idOrSlug)
	if err != nil {
		return nil, err
	}
	return s.st.Executions().List(ctx, store.ExecutionFilter{UserID: userID, WorkflowUID: w.UID}, limit, offset)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ExecutionDetail is an execution with its trigger's name and its steps.
type ExecutionDetail struct {
	*store.Execution
	TriggerName string
	Steps       []store.ExecutionStep
}

// GetExecution returns one of the user's executions with its steps.
func (s *Service) GetExecution(ctx context.Context, userID, id string) (*ExecutionDetail, error) {
	e, err := s.execution(ctx, s.st, userID, id)
	if err != nil {
		return nil, err
	}
	d := &ExecutionDetail{Execution: e}
	if e.TriggerID != "" {
		if t, err := s.st.Triggers().Get(ctx, e.TriggerID); err == nil {
			d.TriggerName = t.Name
		}
	}
	d.Steps, err = s.st.ExecutionSteps().List(ctx, e.ID)
	return d, err
}

// Steps returns the step trace of one of the user's executions.
func (s *Service) Steps(ctx context.Context, userID, id string) ([]store.ExecutionStep, error) {
	e, err := s.execution(ctx, s.st, userID, id)
	if err != nil {
		return nil, err
	}
	return s.st.ExecutionSteps().List(ctx, e.ID)
}

// finish moves an execution to a final status with error (in a
// transaction).
func (s *Service) finish(e *store.Execution, status, errMsg string) []string {
	e.Status, e.Error, e.CompletedAt = status, errMsg, s.now()
	e.ResumeToken, e.Decision = "", ""
	return []string{"status", "error", "completed_at", "resume_token", "decision"}
}

// afterFinal publishes an execution's end and ends its session.
func (s *Service) afterFinal(ctx context.Context, e *store.Execution) {
	s.publish(ctx, e)
	if e.SessionID != "" {
		if err := s.sessions.EndWorkflowSession(context.WithoutCancel(ctx), e.SessionID, "workflow_execution_"+e.Status); err != nil {
			s.log.Warn("end workflow session", "execution_id", e.ID, "session_id", e.SessionID, "err", err)
		}
	}
}

// Cancel cancels one of the user's executions that has not ended, and
// ends its session.
func (s *Service) Cancel(ctx context.Context, userID, id, reason string) (*store.Execution, error) {
	if len(reason) > 1000 {
		return nil, apperr.Invalid("reason", "reason must be at most 1000 characters")
	}
	var e *store.Execution
	err := s.st.InTx(ctx, func(tx *store.Store) error {
		var err error
		if e, err = s.lockedExecution(ctx, tx, userID, id); err != nil {
			return err
		}
		if store.IsFinalExec(e.Status) {
			return apperr.Invalid("", "Execution is already %s", e.Status)
		}
		msg := "cancelled"
		if reason != "" {
			msg = "cancelled: " + reason
		}
		return tx.Executions().Update(ctx, e, s.finish(e, store.ExecCancelled, msg)...)
	})
	if err != nil {
		return nil, err
	}
	s.afterFinal(ctx, e)
	return e, nil
}

// ApproveInput is POST /api/executions/:id/approve.
type ApproveInput struct {
	Approve     bool
	ResumeToken string
	Reason      string
}

// Approve answers the approval an execution waits for. The resume token
// must be the one the execution holds (it changes at every checkpoint).
// Approved, the execution resumes after the approval step in its session
// (woken); denied, it is cancelled.
func (s *Service) Approve(ctx context.Context, userID, id string, in ApproveInput) (*store.Execution, error) {
	if in.ResumeToken == "" {
		return nil, apperr.Invalid("resumeToken", "resumeToken is required")
	}
	if len(in.Reason) > 1000 {
		return nil, apperr.Invalid("reason", "reason must be at most 1000 characters")
	}
	var e *store.Execution
	err := s.st.InTx(ctx, func(tx *store.Store) error {
		var err error
		if e, err = s.lockedExecution(ctx, tx, userID, id); err != nil {
			return err
		}
		if e.Status != store.ExecWaitingApproval {
			return apperr.Invalid("", "Execution is %s, not waiting for approval", e.Status)
		}
		if subtle.ConstantTimeCompare([]byte(in.ResumeToken), []byte(e.ResumeToken)) != 1 {
			return apperr.Invalid("resumeToken", "resumeToken does not match the approval this execution waits for")
		}
		now := s.now()
		decision := "approve"
		step := store.ExecutionStep{StepID: e.ResumeStepID, Attempt: e.ResumeAttempt, Status: store.ExecCompleted, CompletedAt: now}
		if !in.Approve {
			decision = "deny"
			step.Status, step.Error = store.ExecCancelled, "approval_denied"
		}
		out := map[string]any{"prompt": e.ApprovalPrompt, "decision": decision, "decidedBy": userID}
		if in.Reason != "" {
			out["reason"] = in.Reason
		}
		step.Output, _ = json.Marshal(out)
		if err := tx.ExecutionSteps().Record(ctx, e.ID, []store.ExecutionStep{step}, now, newID); err != nil {
			return err
		}
		if !in.Approve {
			msg := "approval_denied"
			if in.Reason != "" {
				msg += ": " + in.Reason
			}
			return tx.Executions().Update(ctx, e, s.finish(e, store.ExecCancelled, msg)...)
		}
		e.Status, e.Decision, e.ResumeToken = store.ExecRunning, decision, ""
		return tx.Executions().Update(ctx, e, "status", "decision", "resume_token")
	})
	if err != nil {
		return nil, err
	}
	if !in.Approve {
		s.afterFinal(ctx, e)
		return e, nil
	}
	s.publish(ctx, e)
	if err := s.sessions.KickWorkflow(context.WithoutCancel(ctx), e.SessionID); err != nil {
		s.log.Warn("wake workflow session to resume", "execution_id", e.ID, "session_id", e.SessionID, "err", err)
	}
	return e, nil
}

// CompleteInput is POST /api/executions/:id/complete: a final result
// reported from outside the runner.
type CompleteInput struct {
	Status  string
	Outputs json.RawMessage
	Steps   []StepReport
	Error   string
}

// StepReport is one step of a reported trace.
type StepReport struct {
	StepID      string          `json:"stepId"`
	Status      string          `json:"status"`
	Attempt     int             `json:"attempt"`
	Input       json.RawMessage `json:"input"`
	Output      json.RawMessage `json:"output"`
	Error       string          `json:"error"`
	StartedAt   string          `json:"startedAt"`
	CompletedAt string          `json:"completedAt"`
}

var stepStatuses = []string{store.ExecPending, store.ExecRunning, store.ExecWaitingApproval, store.ExecCompleted,
	store.ExecFailed, store.ExecCancelled, store.ExecSkipped}

// Complete records the final result of one of the user's executions that
// has not ended, and ends its session.
func (s *Service) Complete(ctx context.Context, userID, id string, in CompleteInput) (*store.Execution, error) {
	switch in.Status {
	case store.ExecCompleted, store.ExecFailed, store.ExecCancelled:
	default:
		return nil, apperr.Invalid("status", "status must be completed, failed or cancelled")
	}
	if len(in.Outputs) > 0 && string(in.Outputs) != "null" {
		var obj map[string]any
		if json.Unmarshal(in.Outputs, &obj) != nil {
			return nil, apperr.Invalid("outputs", "outputs must be an object")
		}
	}
	if len(in.Steps) > MaxSteps*2 {
		return nil, apperr.Invalid("steps", "steps may hold at most %d records", MaxSteps*2)
	}
	for i, st := range in.Steps {
		field := fmt.Sprintf("steps[%d]", i)
		if strings.TrimSpace(st.StepID) == "" {
			return nil, apperr.Invalid(field+".stepId", "%s.stepId is required", field)
		}
		if !contains(stepStatuses, st.Status) {
			return nil, apperr.Invalid(field+".status", "%s.status must be one of %s", field, strings.Join(stepStatuses, ", "))
		}
		for _, ts := range []struct{ name, v string }{{"startedAt", st.StartedAt}, {"completedAt", st.CompletedAt}} {
			if _, ok := parseTime(ts.v); !ok && ts.v != "" {
				return nil, apperr.Invalid(field+"."+ts.name, "%s.%s must be an ISO-8601 time", field, ts.name)
			}
		}
	}
	var e *store.Execution
	err := s.st.InTx(ctx, func(tx *store.Store) error {
		var err error
		if e, err = s.lockedExecution(ctx, tx, userID, id); err != nil {
			return err
		}
		if store.IsFinalExec(e.Status) {
			return apperr.Invalid("", "Execution is already %s", e.Status)
		}
		now := s.now()
		idx := StepIndex(e.Snapshot)
		recs := make([]store.ExecutionStep, 0, len(in.Steps))
		for _, st := range in.Steps {
			attempt := st.Attempt
			if attempt <= 0 {
				attempt = max(e.AttemptCount, 1)
			}
			rec := store.ExecutionStep{StepID: st.StepID, Attempt: attempt, Status: st.Status, Input: jsonOrNil(st.Input),
				Output: jsonOrNil(st.Output), Error: st.Error}
			rec.StartedAt, _ = parseTime(st.StartedAt)
			rec.CompletedAt, _ = parseTime(st.CompletedAt)
			if i, ok := idx[st.StepID]; ok {
				rec.WorkflowStepIndex = &i
			}
			recs = append(recs, rec)
		}
		if err := tx.ExecutionSteps().Record(ctx, e.ID, recs, now, newID); err != nil {
			return err
		}
		cols := s.finish(e, in.Status, in.Error)
		if len(in.Outputs) > 0 && string(in.Outputs) != "null" {
			e.Outputs, cols = in.Outputs, append(cols, "outputs")
		}
		return tx.Executions().Update(ctx, e, cols...)
	})
	if err != nil {
		return nil, err
	}
	s.afterFinal(ctx, e)
	return e, nil
}

func jsonOrNil(b json.RawMessage) json.RawMessage {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	return b
}

// parseTime reads an RFC 3339 time; empty is the zero time.
func parseTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC().Truncate(time.Microsecond), true
}

// lockExecution serializes the transactions that change one execution
// (two approvals at once, an approval racing a result) on Postgres; on
// SQLite every write transaction is serialized already.
func lockExecution(ctx context.Context, tx *store.Store, id string) error {
	return tx.LockKey(ctx, "workflow.execution:"+id)
}

// newResumeToken is an unguessable token for one approval checkpoint.
func newResumeToken() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "wrf_rt_" + hex.EncodeToString(b)
}

// lockedExecution takes an execution's lock in tx and returns it, if it
// is the user's.
func (s *Service) lockedExecution(ctx context.Context, tx *store.Store, userID, id string) (*store.Execution, error) {
	if err := lockExecution(ctx, tx, id); err != nil {
		return nil, err
	}
	return s.execution(ctx, tx, userID, id)
}

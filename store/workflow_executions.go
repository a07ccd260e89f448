package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/uptrace/bun"
)

// Execution statuses (steps use the same words, plus skipped).
const (
	ExecPending         = "pending"
	ExecRunning         = "running"
	ExecWaitingApproval = "waiting_approval"
	ExecCompleted       = "completed"
	ExecFailed          = "failed"
	ExecCancelled       = "cancelled"
	ExecSkipped         = "skipped"
)

// ActiveExecStatuses count toward the concurrency limits.
var ActiveExecStatuses = []string{ExecPending, ExecRunning, ExecWaitingApproval}

// IsFinalExec reports whether an execution status is final.
func IsFinalExec(status string) bool {
	return status == ExecCompleted || status == ExecFailed || status == ExecCancelled
}

// Execution is one run of a workflow, in a workflow-purpose session.
type Execution struct {
	bun.BaseModel `bun:"table:workflow_executions,alias:e"`

	ID              string          `bun:"id,pk"`
	UserID          string          `bun:"user_id,notnull"`
	WorkflowUID     string          `bun:"workflow_uid,nullzero"`
	WorkflowID      string          `bun:"workflow_id,notnull"`
	WorkflowName    string          `bun:"workflow_name,notnull"`
	WorkflowVersion string          `bun:"workflow_version,notnull"`
	WorkflowHash    string          `bun:"workflow_hash,notnull"`
	Snapshot        json.RawMessage `bun:"workflow_snapshot,type:jsonb,notnull"`
	TriggerID       string          `bun:"trigger_id,nullzero"`
	TriggerType     string          `bun:"trigger_type,notnull"`
	TriggerMetadata json.RawMessage `bun:"trigger_metadata,type:jsonb,nullzero"`
	Variables       json.RawMessage `bun:"variables,type:jsonb,notnull"`
	Status          string          `bun:"status,notnull"`
	IdempotencyKey  string          `bun:"idempotency_key,nullzero"`
	SessionID       string          `bun:"session_id,nullzero"`
	// AttemptCount is how many times the execution was dispatched to a
	// runner (a run, a resume, or a run again after a lost runner).
	AttemptCount int       `bun:"attempt_count,notnull"`
	DispatchedAt time.Time `bun:"dispatched_at,nullzero"`
	// ResumeToken, ResumeStepID, ResumeAttempt (the attempt that stopped),
	// ApprovalPrompt and ApprovalRequestedAt describe the approval an
	// execution waits for; Decision is the answer that the next dispatch
	// carries to the runner ("approve").
	ResumeToken         string          `bun:"resume_token,nullzero"`
	ResumeStepID        string          `bun:"resume_step_id,nullzero"`
	ResumeAttempt       int             `bun:"resume_attempt,notnull"`
	ApprovalPrompt      string          `bun:"approval_prompt,nullzero"`
	ApprovalRequestedAt time.Time       `bun:"approval_requested_at,nullzero"`
	Decision            string          `bun:"decision,nullzero"`
	Outputs             json.RawMessage `bun:"outputs,type:jsonb,nullzero"`
	Error               string          `bun:"error,nullzero"`
	StartedAt           time.Time       `bun:"started_at,notnull"`
	CompletedAt         time.Time       `bun:"completed_at,nullzero"`
	UpdatedAt           time.Time       `bun:"updated_at,notnull"`
}

// Executions is the repository of workflow executions.
type Executions struct{ s *Store }

// Executions returns the execution repository.
func (s *Store) Executions() Executions { return Executions{s} }

// Insert adds an execution; ErrConflict when the user used its
// idempotency key already.
func (r Executions) Insert(ctx context.Context, e *Execution) error {
	_, err := r.s.w.NewInsert().Model(e).Exec(ctx)
	return wrap("insert execution", err)
}

// Get returns an execution by id.
func (r Executions) Get(ctx context.Context, id string) (*Execution, error) {
	e := new(Execution)
	err := r.s.r.NewSelect().Model(e).Where("id = ?", id).Scan(ctx)
	return e, wrap("get execution", err)
}

// GetByIdempotencyKey returns the user's execution started with key.
func (r Executions) GetByIdempotencyKey(ctx context.Context, userID, key string) (*Execution, error) {
	e := new(Execution)
	err := r.s.r.NewSelect().Model(e).Where("user_id = ?", userID).Where("idempotency_key = ?", key).Scan(ctx)
	return e, wrap("get execution by key", err)
}

// ExecutionFilter narrows an execution list.
type ExecutionFilter struct {
	UserID      string
	WorkflowUID string // empty: any
	Status      string // empty: any
}

// List returns executions, newest first.
func (r Executions) List(ctx context.Context, f ExecutionFilter, limit, offset int) ([]Execution, error) {
	var out []Execution
	q := r.s.r.NewSelect().Model(&out).ExcludeColumn("workflow_snapshot").
		Where("user_id = ?", f.UserID).OrderExpr("started_at DESC, id DESC").Limit(int64(limit)).Offset(int64(offset))
	if f.WorkflowUID != "" {
		q = q.Where("workflow_uid = ?", f.WorkflowUID)
	}
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	err := q.Scan(ctx)
	return out, wrap("list executions", err)
}

// CountActive counts the executions in ActiveExecStatuses: the user's and
// everyone's.
func (r Executions) CountActive(ctx context.Context, userID string) (user, global int, err error) {
	var rows []struct {
		UserID string `bun:"user_id"`
		N      int    `bun:"n"`
	}
	err = r.s.r.NewSelect().Model((*Execution)(nil)).ColumnExpr("user_id, COUNT(*) AS n").
		Where("status IN (?)", bun.In(ActiveExecStatuses)).GroupExpr("user_id").Scan(ctx, &rows)
	if err != nil {
		return 0, 0, wrap("count active executions", err)
	}
	for _, row := range rows {
		global += row.N
		if row.UserID == userID {
			user = row.N
		}
	}
	return user, global, nil
}

// Update writes the named columns of e (updated_at always).
func (r Executions) Update(ctx context.Context, e *Execution, columns ...string) error {
	columns = append(append([]string(nil), columns...), "updated_at")
	res, err := r.s.w.NewUpdate().Model(e).Column(columns...).WherePK().Exec(ctx)
	return affectedOne("update execution", res, err)
}

// ListActiveBySession returns the executions of a session that are not
// final, oldest first.
func (r Executions) ListActiveBySession(ctx context.Context, sessionID string) ([]Execution, error) {
	var out []Execution
	err := r.s.r.NewSelect().Model(&out).Where("session_id = ?", sessionID).
		Where("status IN (?)", bun.In(ActiveExecStatuses)).OrderExpr("started_at ASC, id ASC").Scan(ctx)
	return out, wrap("list session executions", err)
}

// ActiveExecution is an active execution and its session's status (empty
// when the session is gone), for the reconcile job.
type ActiveExecution struct {
	Execution     `bun:",extend"`
	SessionStatus string `bun:"session_status,scanonly"`
}

// ListActive returns up to limit executions in ActiveExecStatuses with
// their session's status, oldest first.
func (r Executions) ListActive(ctx context.Context, limit int) ([]ActiveExecution, error) {
	var out []ActiveExecution
	err := r.s.r.NewSelect().Model(&out).ExcludeColumn("workflow_snapshot").
		ColumnExpr("s.status AS session_status").
		Join("LEFT JOIN sessions AS s ON s.id = e.session_id").
		Where("e.status IN (?)", bun.In(ActiveExecStatuses)).
		OrderExpr("e.started_at ASC, e.id ASC").Limit(int64(limit)).Scan(ctx)
	return out, wrap("list active executions", err)
}

// ExecutionStep is one step's record in an execution's trace, keyed by
// (execution, step, attempt) and ordered by Seq.
type ExecutionStep struct {
	bun.BaseModel `bun:"table:workflow_execution_steps"`

	ID                string          `bun:"id,pk"`
	ExecutionID       string          `bun:"execution_id,notnull"`
	Seq               int64           `bun:"seq,notnull"`
	StepID            string          `bun:"step_id,notnull"`
	Attempt           int             `bun:"attempt,notnull"`
	Status            string          `bun:"status,notnull"`
	WorkflowStepIndex *int            `bun:"workflow_step_index"`
	Input             json.RawMessage `bun:"input,type:jsonb,nullzero"`
	Output            json.RawMessage `bun:"output,type:jsonb,nullzero"`
	Error             string          `bun:"error,nullzero"`
	StartedAt         time.Time       `bun:"started_at,nullzero"`
	CompletedAt       time.Time       `bun:"completed_at,nullzero"`
	CreatedAt         time.Time       `bun:"created_at,notnull"`
}

// ExecutionSteps is the repository of execution step traces.
type ExecutionSteps struct{ s *Store }

// ExecutionSteps returns the step trace repository.
func (s *Store) ExecutionSteps() ExecutionSteps { return ExecutionSteps{s} }

// List returns an execution's steps in trace order.
func (r ExecutionSteps) List(ctx context.Context, executionID string) ([]ExecutionStep, error) {
	var out []ExecutionStep
	err := r.s.r.NewSelect().Model(&out).Where("execution_id = ?", executionID).OrderExpr("seq ASC").Scan(ctx)
	return out, wrap("list execution steps", err)
}

// Record writes steps in the order given: a step already recorded for its
// (step, attempt) gets the new status and error, and keeps its input,
// output and times unless the new record has them; a new one goes after
// the execution's last. Call it in a transaction.
func (r ExecutionSteps) Record(ctx context.Context, executionID string, steps []ExecutionStep, now time.Time, newID func() string) error {
	var existing []ExecutionStep
	if err := r.s.w.NewSelect().Model(&existing).Where("execution_id = ?", executionID).Scan(ctx); err != nil {
		return wrap("record execution steps", err)
	}
	type key struct {
		step    string
		attempt int
	}
	byKey := map[key]*ExecutionStep{}
	var seq int64
	for i := range existing {
		byKey[key{existing[i].StepID, existing[i].Attempt}] = &existing[i]
		seq = max(seq, existing[i].Seq)
	}
	for i := range steps {
		in := &steps[i]
		if old, ok := byKey[key{in.StepID, in.Attempt}]; ok {
			old.Status, old.Error = in.Status, in.Error
			if len(in.Input) > 0 {
				old.Input = in.Input
			}
			if len(in.Output) > 0 {
				old.Output = in.Output
			}
			if !in.StartedAt.IsZero() {
				old.StartedAt = in.StartedAt
			}
			if !in.CompletedAt.IsZero() {
				old.CompletedAt = in.CompletedAt
			}
			if in.WorkflowStepIndex != nil {
				old.WorkflowStepIndex = in.WorkflowStepIndex
			}
			if _, err := r.s.w.NewUpdate().Model(old).
				Column("status", "error", "input", "output", "started_at", "completed_at", "workflow_step_index").
				WherePK().Exec(ctx); err != nil {
				return wrap("record execution step", err)
			}
			continue
		}
		seq++
		row := *in
		row.ID, row.ExecutionID, row.Seq, row.CreatedAt = newID(), executionID, seq, now
		if _, err := r.s.w.NewInsert().Model(&row).Exec(ctx); err != nil {
			return wrap("record execution step", err)
		}
		byKey[key{row.StepID, row.Attempt}] = &row
	}
	return nil
}

// Insert adds one step as it is, its Seq included (imports; Record is the
// executor's path).
func (r ExecutionSteps) Insert(ctx context.Context, st *ExecutionStep) error {
	_, err := r.s.w.NewInsert().Model(st).Exec(ctx)
	return wrap("insert execution step", err)
}

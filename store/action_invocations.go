package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Permission modes of a session.
const (
	PermissionAuto = "auto" // the agent edits and runs commands without asking
	PermissionAsk  = "ask"  // each edit or command waits for an approval
)

// Statuses of an action invocation.
const (
	InvocationPending  = "pending"
	InvocationApproved = "approved"
	InvocationDenied   = "denied"
	InvocationExpired  = "expired"
)

// ErrResolved means an approval was already answered or expired.
var ErrResolved = errors.New("already resolved")

// ActionInvocation is an edit or command an agent asked to make in a
// session whose permission mode is ask: an approval, pending until its
// owner approves or denies it, or it expires.
type ActionInvocation struct {
	bun.BaseModel `bun:"table:action_invocations"`

	ID         string          `bun:"id,pk"`
	SessionID  string          `bun:"session_id,notnull"`
	UserID     string          `bun:"user_id,notnull"`
	ToolName   string          `bun:"tool_name,notnull"`
	Args       json.RawMessage `bun:"args,type:jsonb,notnull"`
	Diff       string          `bun:"diff,nullzero"`
	Status     string          `bun:"status,notnull"`
	Reason     string          `bun:"reason,nullzero"`
	ResolvedBy string          `bun:"resolved_by,nullzero"`
	ResolvedAt time.Time       `bun:"resolved_at,nullzero"`
	ExpiresAt  time.Time       `bun:"expires_at,notnull"`
	CreatedAt  time.Time       `bun:"created_at,notnull"`
}

// ActionInvocations is the repository of approvals.
type ActionInvocations struct{ s *Store }

// ActionInvocations returns the approval repository.
func (s *Store) ActionInvocations() ActionInvocations { return ActionInvocations{s} }

// Create stores a pending approval (an invocation id asked again is
// ignored: a runner replays its frames after a reconnect).
func (r ActionInvocations) Create(ctx context.Context, a *ActionInvocation) error {
	if len(a.Args) == 0 {
		a.Args = json.RawMessage("{}")
	}
	if a.Status == "" {
		a.Status = InvocationPending
	}
	_, err := r.s.w.NewInsert().Model(a).On("CONFLICT (id) DO NOTHING").Exec(ctx)
	return wrap("store action invocation", err)
}

// Get returns one approval.
func (r ActionInvocations) Get(ctx context.Context, id string) (*ActionInvocation, error) {
	a := new(ActionInvocation)
	err := r.s.r.NewSelect().Model(a).Where("id = ?", id).Scan(ctx)
	return a, wrap("get action invocation", err)
}

// InvocationCursor is the position after which a page starts (newest
// first); the zero value starts with the newest.
type InvocationCursor struct {
	CreatedAt time.Time
	ID        string
}

// List returns a user's approvals, newest first, after the cursor;
// pendingOnly keeps the pending ones.
func (r ActionInvocations) List(ctx context.Context, userID string, pendingOnly bool, after InvocationCursor, limit int) ([]ActionInvocation, error) {
	var out []ActionInvocation
	q := r.s.r.NewSelect().Model(&out).Where("user_id = ?", userID).OrderExpr("created_at DESC, id DESC").Limit(int64(limit))
	if pendingOnly {
		q = q.Where("status = ?", InvocationPending)
	}
	if after.ID != "" {
		q = q.Where("(created_at < ? OR (created_at = ? AND id < ?))", after.CreatedAt, after.CreatedAt, after.ID)
	}
	err := q.Scan(ctx)
	return out, wrap("list action invocations", err)
}

// Pending returns a session's pending approvals, oldest first.
func (r ActionInvocations) Pending(ctx context.Context, sessionID string) ([]ActionInvocation, error) {
	var out []ActionInvocation
	err := r.s.r.NewSelect().Model(&out).Where("session_id = ?", sessionID).Where("status = ?", InvocationPending).
		OrderExpr("created_at ASC, id ASC").Scan(ctx)
	return out, wrap("list pending action invocations", err)
}

// Resolve moves a pending approval to status (approved, denied or
// expired): ErrNotFound when there is none, ErrResolved when it is no
// longer pending (so that two answers cannot both win).
func (r ActionInvocations) Resolve(ctx context.Context, id, status, reason, resolvedBy string, at time.Time) error {
	switch status {
	case InvocationApproved, InvocationDenied, InvocationExpired:
	default:
		return fmt.Errorf("resolve action invocation: bad status %q", status)
	}
	q := r.s.w.NewUpdate().Model((*ActionInvocation)(nil)).Set("status = ?", status).Set("resolved_at = ?", at).
		Where("id = ?", id).Where("status = ?", InvocationPending)
	if reason != "" {
		q = q.Set("reason = ?", reason)
	}
	if resolvedBy != "" {
		q = q.Set("resolved_by = ?", resolvedBy)
	}
	res, err := q.Exec(ctx)
	if err != nil {
		return wrap("resolve action invocation", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	if _, err := r.Get(ctx, id); err != nil {
		return err
	}
	return fmt.Errorf("resolve action invocation: %w", ErrResolved)
}

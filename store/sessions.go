package store

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// Session statuses.
const (
	StatusInitializing = "initializing"
	StatusRunning      = "running"
	StatusHibernating  = "hibernating"
	StatusHibernated   = "hibernated"
	StatusRestoring    = "restoring"
	StatusTerminated   = "terminated"
	StatusError        = "error"
	StatusArchived     = "archived"
)

// ActiveStatuses count toward a user's limit of active sessions.
var ActiveStatuses = []string{StatusInitializing, StatusRunning, StatusRestoring}

// Session is one agent session: its identity, its lifecycle status and the
// state its actor keeps across restarts.
type Session struct {
	bun.BaseModel `bun:"table:sessions"`

	ID        string `bun:"id,pk"`
	UserID    string `bun:"user_id,notnull"`
	Workspace string `bun:"workspace,notnull"`
	Title     string `bun:"title,nullzero"`
	Status    string `bun:"status,notnull"`
	Purpose   string `bun:"purpose,notnull"`
	Agent     string `bun:"agent,notnull"`
	// AgentSessionID is the agent's own session or thread id (the runner
	// reports it; init sends it back so a new runner resumes it).
	AgentSessionID   string          `bun:"agent_session_id,nullzero"`
	PersonaID        string          `bun:"persona_id,nullzero"`
	SandboxID        string          `bun:"sandbox_id,nullzero"`
	RunnerTokenHash  string          `bun:"runner_token_hash,nullzero"`
	RunnerSeq        int64           `bun:"runner_seq,notnull"`
	RunnerBusy       bool            `bun:"runner_busy,notnull"`
	Models           json.RawMessage `bun:"models,type:jsonb,nullzero"`
	ErrorMessage     string          `bun:"error_message,nullzero"`
	QueueMode        string          `bun:"queue_mode,notnull"`
	RunnerLostAt     time.Time       `bun:"runner_lost_at,nullzero"`
	RunnerRespawns   int             `bun:"runner_respawns,notnull"`
	LastDispatchedAt time.Time       `bun:"last_dispatched_at,nullzero"`
	LastActiveAt     time.Time       `bun:"last_active_at,notnull"`
	// RunningStartedAt is the start of the current running period (zero
	// when the session is not running); ActiveSeconds sums the periods
	// that ended.
	RunningStartedAt time.Time `bun:"running_started_at,nullzero"`
	ActiveSeconds    int64     `bun:"active_seconds,notnull"`
	EndedAt          time.Time `bun:"ended_at,nullzero"`
	// MessageCount (user and assistant messages) and ToolCallCount are
	// kept by the Messages repository; the session actor never writes
	// them. Scan-only: read where a query selects them (the dashboard's).
	MessageCount  int       `bun:"message_count,scanonly"`
	ToolCallCount int       `bun:"tool_call_count,scanonly"`
	CreatedAt     time.Time `bun:"created_at,notnull"`
	UpdatedAt     time.Time `bun:"updated_at,notnull"`
	// PermissionMode is PermissionAuto or PermissionAsk; empty is stored
	// as auto (the column's default).
	PermissionMode string `bun:"permission_mode,nullzero,notnull,default:'auto'"`
}

// IsTerminal reports whether a status ends the session's life.
func IsTerminal(status string) bool {
	return status == StatusTerminated || status == StatusError || status == StatusArchived
}

// Sessions is the repository of sessions.
type Sessions struct{ s *Store }

// Sessions returns the session repository.
func (s *Store) Sessions() Sessions { return Sessions{s} }

// Create inserts a session.
func (r Sessions) Create(ctx context.Context, sess *Session) error {
	_, err := r.s.w.NewInsert().Model(sess).Exec(ctx)
	return wrap("create session", err)
}

// Get returns the session with id.
func (r Sessions) Get(ctx context.Context, id string) (*Session, error) {
	sess := new(Session)
	err := r.s.r.NewSelect().Model(sess).Where("id = ?", id).Scan(ctx)
	return sess, wrap("get session", err)
}

// SessionCursor is the position after which a page of sessions starts
// (newest first). The zero value starts with the newest.
type SessionCursor struct {
	CreatedAt time.Time
	ID        string
}

// likeEscaper makes a string match itself literally inside a LIKE pattern
// with ESCAPE '\'.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// SessionFilter narrows a session list.
type SessionFilter struct {
	UserID string
	Status string // empty: any
	// Title keeps sessions whose title contains it, ignoring case
	// (LIKE wildcards in it are literal); empty: any.
	Title string
}

// List returns a user's sessions, newest first, after the cursor.
func (r Sessions) List(ctx context.Context, f SessionFilter, after SessionCursor, limit int) ([]Session, error) {
	var out []Session
	q := r.s.r.NewSelect().Model(&out).Where("user_id = ?", f.UserID).
		OrderExpr("created_at DESC, id DESC").Limit(int64(limit))
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Title != "" {
		q = q.Where(`LOWER(title) LIKE ? ESCAPE '\'`, "%"+likeEscaper.Replace(strings.ToLower(f.Title))+"%")
	}
	if after.ID != "" {
		q = q.Where("(created_at < ? OR (created_at = ? AND id < ?))", after.CreatedAt, after.CreatedAt, after.ID)
	}
	err := q.Scan(ctx)
	return out, wrap("list sessions", err)
}

// PurposeWorkflow marks the headless sessions that run workflow executions.
const PurposeWorkflow = "workflow"

// CountActive counts a user's sessions in ActiveStatuses. Workflow
// sessions do not count: executions have limits of their own.
func (r Sessions) CountActive(ctx context.Context, userID string) (int, error) {
	n, err := r.s.r.NewSelect().Model((*Session)(nil)).
		Where("user_id = ?", userID).Where("status IN (?)", bun.In(ActiveStatuses)).
		Where("purpose <> ?", PurposeWorkflow).Count(ctx)
	return int(n), wrap("count active sessions", err)
}

// ListLive returns every session that is not terminal, for start-up.
func (r Sessions) ListLive(ctx context.Context) ([]Session, error) {
	var out []Session
	err := r.s.r.NewSelect().Model(&out).
		Where("status NOT IN (?)", bun.In([]string{StatusTerminated, StatusError, StatusArchived})).
		OrderExpr("created_at ASC").Scan(ctx)
	return out, wrap("list live sessions", err)
}

// Update writes the named columns of sess (updated_at is always written).
func (r Sessions) Update(ctx context.Context, sess *Session, columns ...string) error {
	columns = append(append([]string(nil), columns...), "updated_at")
	res, err := r.s.w.NewUpdate().Model(sess).Column(columns...).WherePK().Exec(ctx)
	return affectedOne("update session", res, err)
}

// Delete removes a session with its transcript and queue.
func (r Sessions) Delete(ctx context.Context, id string) error {
	res, err := r.s.w.NewDelete().Model((*Session)(nil)).Where("id = ?", id).Exec(ctx)
	return affectedOne("delete session", res, err)
}

// ListEndedBefore returns up to limit terminated or errored sessions that
// ended (or, lacking an end time, last changed) before cutoff, oldest
// first: the candidates for archiving.
func (r Sessions) ListEndedBefore(ctx context.Context, cutoff time.Time, limit int) ([]Session, error) {
	var out []Session
	err := r.s.r.NewSelect().Model(&out).
		Where("status IN (?)", bun.In([]string{StatusTerminated, StatusError})).
		WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("ended_at < ?", cutoff).WhereOr("ended_at IS NULL AND updated_at < ?", cutoff)
		}).
		OrderExpr("updated_at ASC, id ASC").Limit(int64(limit)).Scan(ctx)
	return out, wrap("list ended sessions", err)
}

// MarkArchived moves a terminated or errored session to archived. A
// session in any other status is left alone (ErrNotFound).
func (r Sessions) MarkArchived(ctx context.Context, id string, now time.Time) error {
	res, err := r.s.w.NewUpdate().Model((*Session)(nil)).
		Set("status = ?", StatusArchived).Set("updated_at = ?", now).
		Where("id = ?", id).Where("status IN (?)", bun.In([]string{StatusTerminated, StatusError})).Exec(ctx)
	return affectedOne("archive session", res, err)
}

// IDsForUser returns the ids of every session of a user, any status.
func (r Sessions) IDsForUser(ctx context.Context, userID string) ([]string, error) {
	var ids []string
	err := r.s.r.NewSelect().Model((*Session)(nil)).Column("id").Where("user_id = ?", userID).
		OrderExpr("created_at, id").Scan(ctx, &ids)
	return ids, wrap("list user's sessions", err)
}

// HibernateLive marks every session that was running (or starting,
// hibernating, restoring) as hibernated with no sandbox, and returns the
// ids of all sessions that are not terminal. A restore without the
// workspaces uses it: the runners are gone, and waking a session starts
// it again from its (new, empty) workspace.
func (r Sessions) HibernateLive(ctx context.Context, now time.Time) ([]string, error) {
	_, err := r.s.w.NewUpdate().Model((*Session)(nil)).
		Set("status = ?", StatusHibernated).
		Set("sandbox_id = NULL").Set("runner_token_hash = NULL").Set("runner_busy = ?", false).
		Set("runner_lost_at = NULL").Set("updated_at = ?", now).
		Where("status IN (?)", bun.In([]string{StatusInitializing, StatusRunning, StatusHibernating, StatusRestoring})).
		Exec(ctx)
	if err != nil {
		return nil, wrap("hibernate live sessions", err)
	}
	var ids []string
	err = r.s.w.NewSelect().Model((*Session)(nil)).Column("id").
		Where("status NOT IN (?)", bun.In([]string{StatusTerminated, StatusError, StatusArchived})).
		Scan(ctx, &ids)
	return ids, wrap("list live sessions", err)
}

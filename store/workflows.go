package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Workflow is a user's workflow definition. ID is the client's id (unique
// per user); UID is the row's key, which triggers and executions use.
type Workflow struct {
	bun.BaseModel `bun:"table:workflows"`

	UID         string          `bun:"uid,pk"`
	UserID      string          `bun:"user_id,notnull"`
	ID          string          `bun:"id,notnull"`
	Slug        string          `bun:"slug,nullzero"`
	Name        string          `bun:"name,notnull"`
	Description string          `bun:"description,nullzero"`
	Version     string          `bun:"version,notnull"`
	Data        json.RawMessage `bun:"data,type:jsonb,notnull"`
	Hash        string          `bun:"workflow_hash,notnull"`
	Enabled     bool            `bun:"enabled,notnull"`
	Tags        json.RawMessage `bun:"tags,type:jsonb,notnull"`
	CreatedAt   time.Time       `bun:"created_at,notnull"`
	UpdatedAt   time.Time       `bun:"updated_at,notnull"`
}

// Workflows is the repository of workflow definitions.
type Workflows struct{ s *Store }

// Workflows returns the workflow repository.
func (s *Store) Workflows() Workflows { return Workflows{s} }

// Insert adds a workflow; ErrConflict when the user has the id or slug.
func (r Workflows) Insert(ctx context.Context, w *Workflow) error {
	_, err := r.s.w.NewInsert().Model(w).Exec(ctx)
	return wrap("insert workflow", err)
}

// GetByID returns the user's workflow with the client id id.
func (r Workflows) GetByID(ctx context.Context, userID, id string) (*Workflow, error) {
	w := new(Workflow)
	err := r.s.r.NewSelect().Model(w).Where("user_id = ?", userID).Where("id = ?", id).Scan(ctx)
	return w, wrap("get workflow", err)
}

// Get returns the user's workflow whose id, else whose slug, is idOrSlug.
func (r Workflows) Get(ctx context.Context, userID, idOrSlug string) (*Workflow, error) {
	var out []Workflow
	err := r.s.r.NewSelect().Model(&out).Where("user_id = ?", userID).
		WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("id = ?", idOrSlug).WhereOr("slug = ?", idOrSlug)
		}).Limit(2).Scan(ctx)
	if err != nil {
		return nil, wrap("get workflow", err)
	}
	for i := range out {
		if out[i].ID == idOrSlug {
			return &out[i], nil
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("get workflow: %w", ErrNotFound)
	}
	return &out[0], nil
}

// GetByUID returns a workflow by its row key.
func (r Workflows) GetByUID(ctx context.Context, uid string) (*Workflow, error) {
	w := new(Workflow)
	err := r.s.r.NewSelect().Model(w).Where("uid = ?", uid).Scan(ctx)
	return w, wrap("get workflow", err)
}

// List returns the user's workflows by name.
func (r Workflows) List(ctx context.Context, userID string) ([]Workflow, error) {
	var out []Workflow
	err := r.s.r.NewSelect().Model(&out).Where("user_id = ?", userID).OrderExpr("name ASC, id ASC").Scan(ctx)
	return out, wrap("list workflows", err)
}

// Update writes the named columns of w (updated_at always).
func (r Workflows) Update(ctx context.Context, w *Workflow, columns ...string) error {
	columns = append(append([]string(nil), columns...), "updated_at")
	res, err := r.s.w.NewUpdate().Model(w).Column(columns...).WherePK().Exec(ctx)
	return affectedOne("update workflow", res, err)
}

// Delete removes a workflow with its triggers and history; its executions
// stay, detached.
func (r Workflows) Delete(ctx context.Context, uid string) error {
	res, err := r.s.w.NewDelete().Model((*Workflow)(nil)).Where("uid = ?", uid).Exec(ctx)
	return affectedOne("delete workflow", res, err)
}

// WorkflowVersion is an immutable snapshot of a workflow's definition.
type WorkflowVersion struct {
	bun.BaseModel `bun:"table:workflow_versions"`

	ID          string          `bun:"id,pk"`
	WorkflowUID string          `bun:"workflow_uid,notnull"`
	Seq         int64           `bun:"seq,notnull"`
	Version     string          `bun:"version,notnull"`
	Name        string          `bun:"name,notnull"`
	Hash        string          `bun:"workflow_hash,notnull"`
	Data        json.RawMessage `bun:"workflow_data,type:jsonb,notnull"`
	Source      string          `bun:"source,notnull"` // sync | update | rollback
	Notes       string          `bun:"notes,nullzero"`
	CreatedBy   string          `bun:"created_by,nullzero"`
	CreatedAt   time.Time       `bun:"created_at,notnull"`
}

// WorkflowVersions is the repository of workflow snapshots.
type WorkflowVersions struct{ s *Store }

// WorkflowVersions returns the snapshot repository.
func (s *Store) WorkflowVersions() WorkflowVersions { return WorkflowVersions{s} }

// Append adds a snapshot after the workflow's last one (it sets Seq). Call
// it in the transaction that changed the workflow.
func (r WorkflowVersions) Append(ctx context.Context, v *WorkflowVersion) error {
	var n *int64
	err := r.s.w.NewSelect().Model((*WorkflowVersion)(nil)).ColumnExpr("MAX(seq)").
		Where("workflow_uid = ?", v.WorkflowUID).Scan(ctx, &n)
	if err != nil {
		return wrap("append workflow version", err)
	}
	v.Seq = 1
	if n != nil {
		v.Seq = *n + 1
	}
	_, err = r.s.w.NewInsert().Model(v).Exec(ctx)
	return wrap("append workflow version", err)
}

// List returns a workflow's snapshots, newest first.
func (r WorkflowVersions) List(ctx context.Context, workflowUID string, limit, offset int) ([]WorkflowVersion, error) {
	var out []WorkflowVersion
	err := r.s.r.NewSelect().Model(&out).Where("workflow_uid = ?", workflowUID).
		OrderExpr("seq DESC").Limit(int64(limit)).Offset(int64(offset)).Scan(ctx)
	return out, wrap("list workflow versions", err)
}

// GetByHash returns the newest snapshot of a workflow with hash.
func (r WorkflowVersions) GetByHash(ctx context.Context, workflowUID, hash string) (*WorkflowVersion, error) {
	v := new(WorkflowVersion)
	err := r.s.r.NewSelect().Model(v).Where("workflow_uid = ?", workflowUID).Where("workflow_hash = ?", hash).
		OrderExpr("seq DESC").Limit(1).Scan(ctx)
	return v, wrap("get workflow version", err)
}

// Trigger types.
const (
	TriggerManual   = "manual"
	TriggerWebhook  = "webhook"
	TriggerSchedule = "schedule"
)

// Trigger is an entry point of a workflow.
type Trigger struct {
	bun.BaseModel `bun:"table:workflow_triggers,alias:t"`

	ID          string          `bun:"id,pk"`
	UserID      string          `bun:"user_id,notnull"`
	WorkflowUID string          `bun:"workflow_uid,notnull"`
	Name        string          `bun:"name,notnull"`
	Enabled     bool            `bun:"enabled,notnull"`
	Type        string          `bun:"type,notnull"`
	Config      json.RawMessage `bun:"config,type:jsonb,notnull"`
	WebhookPath string          `bun:"webhook_path,nullzero"`
	// WebhookSecret is sealed with the instance keyring.
	WebhookSecret   string          `bun:"webhook_secret,nullzero"`
	VariableMapping json.RawMessage `bun:"variable_mapping,type:jsonb,nullzero"`
	LastRunAt       time.Time       `bun:"last_run_at,nullzero"`
	CreatedAt       time.Time       `bun:"created_at,notnull"`
	UpdatedAt       time.Time       `bun:"updated_at,notnull"`
}

// Triggers is the repository of workflow triggers.
type Triggers struct{ s *Store }

// Triggers returns the trigger repository.
func (s *Store) Triggers() Triggers { return Triggers{s} }

// Insert adds a trigger; ErrConflict when its webhook path is taken.
func (r Triggers) Insert(ctx context.Context, t *Trigger) error {
	_, err := r.s.w.NewInsert().Model(t).Exec(ctx)
	return wrap("insert trigger", err)
}

// Get returns a trigger by id.
func (r Triggers) Get(ctx context.Context, id string) (*Trigger, error) {
	t := new(Trigger)
	err := r.s.r.NewSelect().Model(t).Where("id = ?", id).Scan(ctx)
	return t, wrap("get trigger", err)
}

// List returns the user's triggers, oldest first; workflowUID narrows to
// one workflow's.
func (r Triggers) List(ctx context.Context, userID, workflowUID string) ([]Trigger, error) {
	var out []Trigger
	q := r.s.r.NewSelect().Model(&out).Where("user_id = ?", userID).OrderExpr("created_at ASC, id ASC")
	if workflowUID != "" {
		q = q.Where("workflow_uid = ?", workflowUID)
	}
	err := q.Scan(ctx)
	return out, wrap("list triggers", err)
}

// GetByWebhookPath returns the webhook trigger with path, enabled or not.
func (r Triggers) GetByWebhookPath(ctx context.Context, path string) (*Trigger, error) {
	t := new(Trigger)
	err := r.s.r.NewSelect().Model(t).Where("webhook_path = ?", path).Scan(ctx)
	return t, wrap("get webhook trigger", err)
}

// ListSchedules returns every enabled schedule trigger of an enabled
// workflow, for the per-minute evaluation. Only the columns it needs are
// read (id, user_id, workflow_uid, config, updated_at).
func (r Triggers) ListSchedules(ctx context.Context) ([]Trigger, error) {
	var out []Trigger
	err := r.s.r.NewSelect().Model(&out).ColumnExpr("t.id, t.user_id, t.workflow_uid, t.config, t.updated_at").
		Join("JOIN workflows AS w ON w.uid = t.workflow_uid").
		Where("t.type = ?", TriggerSchedule).Where("t.enabled = ?", true).Where("w.enabled = ?", true).
		Scan(ctx)
	return out, wrap("list schedule triggers", err)
}

// Update writes the named columns of t (updated_at always).
func (r Triggers) Update(ctx context.Context, t *Trigger, columns ...string) error {
	columns = append(append([]string(nil), columns...), "updated_at")
	res, err := r.s.w.NewUpdate().Model(t).Column(columns...).WherePK().Exec(ctx)
	return affectedOne("update trigger", res, err)
}

// SetLastRun records when a trigger last started an execution.
func (r Triggers) SetLastRun(ctx context.Context, id string, at time.Time) error {
	_, err := r.s.w.NewUpdate().Model((*Trigger)(nil)).Set("last_run_at = ?", at).Where("id = ?", id).Exec(ctx)
	return wrap("set trigger last run", err)
}

// Delete removes a trigger.
func (r Triggers) Delete(ctx context.Context, id string) error {
	res, err := r.s.w.NewDelete().Model((*Trigger)(nil)).Where("id = ?", id).Exec(ctx)
	return affectedOne("delete trigger", res, err)
}

// ClaimTick records that a schedule trigger fired for tick (a minute) and
// reports whether this call was the first to do so: across replicas and
// restarts, each (trigger, minute) is claimed once.
func (r Triggers) ClaimTick(ctx context.Context, triggerID string, tick, now time.Time) (bool, error) {
	row := &ScheduleTick{TriggerID: triggerID, Tick: tick.UTC(), CreatedAt: now}
	res, err := r.s.w.NewInsert().Model(row).On("CONFLICT (trigger_id, tick) DO NOTHING").Exec(ctx)
	if err != nil {
		return false, wrap("claim schedule tick", err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrap("claim schedule tick", err)
}

// PruneTicks deletes claims made before t and returns how many.
func (r Triggers) PruneTicks(ctx context.Context, before time.Time) (int, error) {
	res, err := r.s.w.NewDelete().Model((*ScheduleTick)(nil)).Where("created_at < ?", before).Exec(ctx)
	if err != nil {
		return 0, wrap("prune schedule ticks", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// ScheduleTick is a claimed (trigger, minute).
type ScheduleTick struct {
	bun.BaseModel `bun:"table:workflow_schedule_ticks"`

	TriggerID string    `bun:"trigger_id,pk"`
	Tick      time.Time `bun:"tick,pk"`
	CreatedAt time.Time `bun:"created_at,notnull"`
}

// TriggerSecret is a trigger's sealed webhook secret.
type TriggerSecret struct {
	ID     string `bun:"id"`
	Sealed string `bun:"webhook_secret"`
}

// Secrets returns every trigger's sealed webhook secret (triggers without
// one are left out), for a key rotation.
func (r Triggers) Secrets(ctx context.Context) ([]TriggerSecret, error) {
	var out []TriggerSecret
	err := r.s.r.NewSelect().Model((*Trigger)(nil)).Column("id", "webhook_secret").
		Where("webhook_secret IS NOT NULL").Where("webhook_secret <> ''").OrderExpr("id").Scan(ctx, &out)
	return out, wrap("list trigger secrets", err)
}

// ResealSecret replaces a trigger's sealed secret if it is still old, and
// reports whether it did.
func (r Triggers) ResealSecret(ctx context.Context, id, old, sealed string) (bool, error) {
	res, err := r.s.w.NewUpdate().Model((*Trigger)(nil)).Set("webhook_secret = ?", sealed).
		Where("id = ?", id).Where("webhook_secret = ?", old).Exec(ctx)
	if err != nil {
		return false, wrap("reseal trigger secret", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// Scheduled job statuses. A job that ran successfully is deleted.
const (
	JobPending = "pending"
	JobFailed  = "failed" // out of attempts, or no handler: kept for inspection until pruned
)

// ScheduledJob is a durable one-shot job: run kind's handler with payload
// at RunAt. A replica claims it (ClaimedBy, until ClaimedUntil) before
// running it; a claim that expires (its replica died) makes it due again.
type ScheduledJob struct {
	bun.BaseModel `bun:"table:scheduled_jobs"`

	ID           string    `bun:"id,pk"`
	Kind         string    `bun:"kind,notnull"`
	Payload      string    `bun:"payload,notnull"`
	DedupeKey    string    `bun:"dedupe_key,nullzero"`
	Status       string    `bun:"status,notnull"`
	RunAt        time.Time `bun:"run_at,notnull"`
	Attempts     int       `bun:"attempts,notnull"`
	MaxAttempts  int       `bun:"max_attempts,notnull"`
	LastError    string    `bun:"last_error,nullzero"`
	ClaimedBy    string    `bun:"claimed_by,nullzero"`
	ClaimedUntil time.Time `bun:"claimed_until,nullzero"`
	CreatedAt    time.Time `bun:"created_at,notnull"`
	UpdatedAt    time.Time `bun:"updated_at,notnull"`
}

// Jobs is the repository of scheduled one-shot jobs.
type Jobs struct{ s *Store }

// Jobs returns the scheduled jobs repository.
func (s *Store) Jobs() Jobs { return Jobs{s} }

// Insert adds a job. A job whose DedupeKey is taken gets ErrConflict.
func (r Jobs) Insert(ctx context.Context, j *ScheduledJob) error {
	_, err := r.s.w.NewInsert().Model(j).Exec(ctx)
	return wrap("insert job", err)
}

// Get returns a job by id.
func (r Jobs) Get(ctx context.Context, id string) (*ScheduledJob, error) {
	j := new(ScheduledJob)
	err := r.s.r.NewSelect().Model(j).Where("id = ?", id).Scan(ctx)
	return j, wrap("get job", err)
}

// GetByDedupeKey returns the job scheduled with key.
func (r Jobs) GetByDedupeKey(ctx context.Context, key string) (*ScheduledJob, error) {
	j := new(ScheduledJob)
	err := r.s.r.NewSelect().Model(j).Where("dedupe_key = ?", key).Scan(ctx)
	return j, wrap("get job by key", err)
}

// Claim takes up to limit pending jobs due at now whose claim is free or
// expired, for owner until now+lease, and counts an attempt for each. Two
// replicas claiming at once never take the same job.
func (r Jobs) Claim(ctx context.Context, now time.Time, owner string, lease time.Duration, limit int) ([]ScheduledJob, error) {
	due := func(q *bun.SelectQuery) *bun.SelectQuery {
		return q.Where("status = ?", JobPending).Where("run_at <= ?", now).
			WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
				return q.Where("claimed_until IS NULL").WhereOr("claimed_until <= ?", now)
			})
	}
	ids := due(r.s.w.NewSelect().Model((*ScheduledJob)(nil)).Column("id")).OrderExpr("run_at, id").Limit(int64(limit))
	if r.s.dialect == Postgres {
		// Concurrent claimers skip each other's rows instead of waiting
		// and then claiming them a second time.
		ids = ids.For("UPDATE SKIP LOCKED")
	}
	var out []ScheduledJob
	_, err := r.s.w.NewUpdate().Model((*ScheduledJob)(nil)).
		Set("claimed_by = ?", owner).Set("claimed_until = ?", now.Add(lease)).
		Set("attempts = attempts + 1").Set("updated_at = ?", now).
		Where("id IN (?)", ids).
		// Checked again on the row being updated (Postgres re-reads a row
		// another transaction changed meanwhile).
		Where("status = ?", JobPending).
		WhereGroup(" AND ", func(q *bun.UpdateQuery) *bun.UpdateQuery {
			return q.Where("claimed_until IS NULL").WhereOr("claimed_until <= ?", now)
		}).
		Returning("*").Exec(ctx, &out)
	return out, wrap("claim jobs", err)
}

// Finish deletes a job that owner ran successfully. A job owner no longer
// holds (its claim expired and another took it, or it was cancelled) is
// left alone and reported as ErrNotFound.
func (r Jobs) Finish(ctx context.Context, id, owner string) error {
	res, err := r.s.w.NewDelete().Model((*ScheduledJob)(nil)).Where("id = ?", id).Where("claimed_by = ?", owner).Exec(ctx)
	return affectedOne("finish job", res, err)
}

// Retry releases owner's claim on a job that failed and makes it due again
// at runAt.
func (r Jobs) Retry(ctx context.Context, id, owner string, runAt time.Time, lastError string, now time.Time) error {
	res, err := r.s.w.NewUpdate().Model((*ScheduledJob)(nil)).
		Set("claimed_by = NULL").Set("claimed_until = NULL").Set("run_at = ?", runAt).
		Set("last_error = ?", lastError).Set("updated_at = ?", now).
		Where("id = ?", id).Where("claimed_by = ?", owner).Exec(ctx)
	return affectedOne("retry job", res, err)
}

// Fail marks a job owner holds as failed for good.
func (r Jobs) Fail(ctx context.Context, id, owner, lastError string, now time.Time) error {
	res, err := r.s.w.NewUpdate().Model((*ScheduledJob)(nil)).
		Set("status = ?", JobFailed).Set("claimed_by = NULL").Set("claimed_until = NULL").
		Set("last_error = ?", lastError).Set("updated_at = ?", now).
		Where("id = ?", id).Where("claimed_by = ?", owner).Exec(ctx)
	return affectedOne("fail job", res, err)
}

// Cancel deletes a pending job; ErrNotFound if there is none with that id.
// A job already running finishes its run.
func (r Jobs) Cancel(ctx context.Context, id string) error {
	res, err := r.s.w.NewDelete().Model((*ScheduledJob)(nil)).Where("id = ?", id).Where("status = ?", JobPending).Exec(ctx)
	return affectedOne("cancel job", res, err)
}

// NextRunAt returns when the earliest pending job is due (a claimed one
// counts from when its claim expires); ok is false when none is pending.
func (r Jobs) NextRunAt(ctx context.Context) (at time.Time, ok bool, err error) {
	var jobs []ScheduledJob
	err = r.s.r.NewSelect().Model(&jobs).Column("run_at", "claimed_until").Where("status = ?", JobPending).
		OrderExpr("run_at").Limit(1).Scan(ctx)
	if err != nil {
		return time.Time{}, false, wrap("next job", err)
	}
	if len(jobs) == 0 {
		return time.Time{}, false, nil
	}
	at = jobs[0].RunAt
	if jobs[0].ClaimedUntil.After(at) {
		at = jobs[0].ClaimedUntil
	}
	return at, true, nil
}

// DeleteFailedBefore removes failed jobs last updated before t.
func (r Jobs) DeleteFailedBefore(ctx context.Context, t time.Time) (int, error) {
	res, err := r.s.w.NewDelete().Model((*ScheduledJob)(nil)).Where("status = ?", JobFailed).Where("updated_at < ?", t).Exec(ctx)
	if err != nil {
		return 0, wrap("delete failed jobs", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// ListByStatus returns jobs of a status, earliest due first (for tests and
// the admin CLI).
func (r Jobs) ListByStatus(ctx context.Context, status string, limit int) ([]ScheduledJob, error) {
	var out []ScheduledJob
	err := r.s.r.NewSelect().Model(&out).Where("status = ?", status).OrderExpr("run_at, id").Limit(int64(limit)).Scan(ctx)
	return out, wrap("list jobs", err)
}

// Package jobs runs work on a schedule: periodic jobs on cron expressions
// (gocron v2), and durable one-shot jobs stored in the database so that
// they survive restarts and failover.
//
// With several replicas on one Postgres, periodic jobs run on one replica
// only: gocron asks an elector before each run, and the elector is a
// Postgres advisory lock held on a connection of its own (store.LeaderLock).
// When the leader dies its connection drops, the lock is released, and
// another replica takes it at its next run. One-shot jobs are claimed with a
// lease by whichever replica sees them due first (store.Jobs.Claim), so each
// runs once; a replica that dies in the middle of one leaves it to run
// again when its lease expires (at least once, never twice concurrently).
//
// This package knows no domain: the composition root registers handlers
// (one-shot kinds) and periodic functions.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Handler runs a one-shot job of one kind with the payload it was scheduled
// with. An error schedules a retry with backoff until the job's attempts
// are used up; then the job is kept as failed.
type Handler func(ctx context.Context, payload []byte) error

// CronFunc is a periodic job.
type CronFunc func(ctx context.Context) error

// Scheduler is the scheduling seam the domain uses.
type Scheduler interface {
	// ScheduleAt stores a job that runs kind's handler with payload at (or
	// soon after) at, and returns its id. Jobs due in the past run at once.
	ScheduleAt(ctx context.Context, at time.Time, kind string, payload []byte, opts ...AtOption) (string, error)
	// ScheduleCron runs fn on a 5-field cron expression (in the
	// scheduler's time zone) under name; a job already under that name is
	// replaced.
	ScheduleCron(name, expr string, fn CronFunc) error
	// Cancel removes a pending one-shot job by id, or a periodic job by
	// name. ErrNotFound when there is neither.
	Cancel(ctx context.Context, id string) error
}

// AtOption tunes one ScheduleAt call.
type AtOption func(*atConfig)

type atConfig struct {
	dedupeKey   string
	maxAttempts int
}

// WithDedupeKey makes scheduling idempotent: a second ScheduleAt with the
// same key schedules nothing and returns the first job's id (while that
// job exists).
func WithDedupeKey(key string) AtOption { return func(c *atConfig) { c.dedupeKey = key } }

// WithMaxAttempts sets how many times the job runs before it is kept as
// failed (default 5).
func WithMaxAttempts(n int) AtOption {
	return func(c *atConfig) {
		if n > 0 {
			c.maxAttempts = n
		}
	}
}

var (
	// ErrNotFound is returned by Cancel for an id that names no pending job
	// and no periodic job.
	ErrNotFound = errors.New("jobs: no such job")
	// ErrUnknownKind is returned by ScheduleAt for a kind without a handler.
	ErrUnknownKind = errors.New("jobs: no handler for this kind")
	// ErrInvalid is returned for a bad cron expression, name or kind.
	ErrInvalid = errors.New("jobs: invalid job")
)

// retryDelay is the backoff before attempt n+1 of a failed job: 30 s
// doubling, at most an hour.
func retryDelay(attempt int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < attempt && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

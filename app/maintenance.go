package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/agentops/agentops/app/artifacts"
	"github.com/agentops/agentops/app/events"
	"github.com/agentops/agentops/app/session"
	"github.com/agentops/agentops/jobs"
	"github.com/agentops/agentops/store"
)

// Maintenance schedules: hourly, at minutes that keep them apart. On
// Postgres only the elected replica runs them.
const (
	pruneSchedule   = "7 * * * *"
	archiveSchedule = "37 * * * *"
	// The artifact sweep runs once a day: it lists every object.
	artifactSweepSchedule = "47 3 * * *"
	// archiveLimit bounds the sessions one run archives; a backlog is
	// worked off hour by hour.
	archiveLimit = 500
	// Failed one-shot jobs are kept this long for inspection.
	failedJobRetention = 30 * 24 * time.Hour
	// Login failures older than this no longer count toward the limit.
	loginFailureRetention = 24 * time.Hour
)

// maintenance holds the periodic jobs that keep the database from growing
// forever. Each is idempotent and logs what it did.
type maintenance struct {
	st           *store.Store
	sessions     *session.Manager
	events       *events.Bus
	archiveAfter time.Duration
	// artifacts, when set, sweeps the artifacts of deleted sessions and
	// users that a crash left behind.
	artifacts *artifacts.Remover
	log       *slog.Logger
	now       func() time.Time
}

// register adds the maintenance jobs to the scheduler.
func (m *maintenance) register(s jobs.Scheduler) error {
	if err := s.ScheduleCron("maintenance.prune", pruneSchedule, m.prune); err != nil {
		return err
	}
	if m.archiveAfter > 0 {
		if err := s.ScheduleCron("maintenance.archive-sessions", archiveSchedule, m.archiveSessions); err != nil {
			return err
		}
	}
	if m.artifacts != nil {
		if err := s.ScheduleCron("maintenance.sweep-artifacts", artifactSweepSchedule, m.sweepArtifacts); err != nil {
			return err
		}
	}
	return nil
}

// sweepArtifacts removes the artifacts of sessions and users that are gone.
func (m *maintenance) sweepArtifacts(ctx context.Context) error {
	res, err := m.artifacts.Sweep(ctx, m.st)
	if res.Objects > 0 {
		m.log.Info("maintenance: removed artifacts of deleted sessions and users", "sessions", res.Sessions, "users", res.Users, "count", res.Objects)
	}
	return err
}

// prune deletes expired logins, expired invites, old login failures,
// failed jobs past their retention, old user events and expired event
// tickets.
func (m *maintenance) prune(ctx context.Context) error {
	now := m.now()
	var errs []error
	count := func(what string, n int, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		if n > 0 {
			m.log.Info("maintenance: pruned", "what", what, "count", n)
		}
	}
	n, err := m.st.AuthSessions().DeleteExpired(ctx, now)
	count("expired logins", n, err)
	n, err = m.st.Invites().DeleteExpired(ctx, now)
	count("expired invites", n, err)
	n, err = m.st.LoginFailures().DeleteBefore(ctx, now.Add(-loginFailureRetention))
	count("old login failures", n, err)
	n, err = m.st.Jobs().DeleteFailedBefore(ctx, now.Add(-failedJobRetention))
	count("failed jobs", n, err)
	if m.events != nil {
		// Events past their age and expired stream tickets.
		if err := m.events.Prune(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// archiveSessions archives sessions that ended more than archiveAfter ago
// and removes their workspaces.
func (m *maintenance) archiveSessions(ctx context.Context) error {
	res, err := m.sessions.ArchiveEnded(ctx, m.now().Add(-m.archiveAfter), archiveLimit)
	if res.Archived > 0 || res.Skipped > 0 {
		m.log.Info("maintenance: archived sessions", "count", res.Archived, "skipped", res.Skipped,
			"ended_before", m.now().Add(-m.archiveAfter).Format(time.RFC3339))
	}
	return err
}

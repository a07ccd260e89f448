package app

import (
	"context"

	"github.com/jonboulle/clockwork"

	"github.com/agentops/agentops/app/events"
	"github.com/agentops/agentops/app/session"
	"github.com/agentops/agentops/app/workflow"
	"github.com/agentops/agentops/jobs"
)

// Workflow jobs: the schedule evaluation and the reconcile job run every
// minute (on Postgres on the elected replica; the tick claim table keeps a
// second evaluation of one minute from firing anything).
const (
	workflowScheduleJob  = "workflows.schedules"
	workflowReconcileJob = "workflows.reconcile"
	everyMinute          = "* * * * *"
)

// newWorkflows builds the workflow service and installs its hooks in the
// session manager (before the manager starts).
func (a *App) newWorkflows(sessions *session.Manager, bus *events.Bus, clock clockwork.Clock) *workflow.Service {
	svc := workflow.New(workflow.Deps{
		Store: a.Store, Sessions: sessions, Sealer: a.Keys.Sealer(), Publisher: bus,
		Notifier: approvalNotifier{a.Notify},
		Logger:   a.log,
	}, workflow.Config{
		MaxPerUser: a.cfg.Workflows.MaxPerUser, MaxGlobal: a.cfg.Workflows.MaxGlobal,
		WebhookMaxBodyBytes: a.cfg.Workflows.WebhookMaxBodyBytes, PublicURL: a.cfg.PublicURL, Now: clock.Now,
	})
	sessions.SetWorkflowHooks(svc.Hooks())
	return svc
}

// registerWorkflowJobs adds the per-minute workflow jobs to the scheduler.
func registerWorkflowJobs(s jobs.Scheduler, svc *workflow.Service) error {
	if err := s.ScheduleCron(workflowScheduleJob, everyMinute, func(ctx context.Context) error {
		_, err := svc.Tick(ctx)
		return err
	}); err != nil {
		return err
	}
	return s.ScheduleCron(workflowReconcileJob, everyMinute, func(ctx context.Context) error {
		_, err := svc.Reconcile(ctx)
		return err
	})
}

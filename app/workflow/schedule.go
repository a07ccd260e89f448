package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/agentops/agentops/store"
)

// TickStats reports one evaluation of the schedule triggers.
type TickStats struct {
	Triggers int // enabled schedule triggers of enabled workflows
	Due      int // with a firing in the window
	Fired    int // executions started
	Skipped  int // claimed already (another replica, an earlier tick) or over the limits
	Failed   int // errors (logged); the tick is retried next minute within the window
	Took     time.Duration
}

// Tick evaluates every enabled schedule trigger at the current time. It
// runs once a minute (jobs.Scheduler; on Postgres on the elected replica).
//
// Missed ticks: each trigger's latest firing in (now − MissedTickGrace,
// now] (and after the trigger was last changed or enabled) fires, once: the (trigger, minute) is claimed in the same
// transaction that creates the execution, so a second evaluation of the
// same minute (another replica, a restart, a retried tick) starts nothing.
// Firings older than the grace window (the server was down) are dropped,
// never replayed in a burst: after an outage each trigger fires at most
// once, for its latest firing if that is recent enough.
func (s *Service) Tick(ctx context.Context) (TickStats, error) {
	start := time.Now()
	now := s.now()
	var st TickStats
	triggers, err := s.st.Triggers().ListSchedules(ctx)
	if err != nil {
		return st, err
	}
	st.Triggers = len(triggers)
	type due struct {
		t    *store.Trigger
		tick time.Time
		cfg  TriggerConfig
	}
	var fire []due
	window := now.Add(-s.cfg.MissedTickGrace)
	// Triggers share expressions and zones: each pair is evaluated once
	// per tick.
	latest := map[[2]string]time.Time{}
	for i := range triggers {
		t := &triggers[i]
		var cfg TriggerConfig
		if err := json.Unmarshal(t.Config, &cfg); err != nil {
			st.Failed++
			continue
		}
		sched, err := s.crons.get(cfg.Cron, cfg.Timezone)
		if err != nil {
			st.Failed++
			s.log.Warn("schedule trigger has a bad cron", "trigger_id", t.ID, "err", err)
			continue
		}
		var tick time.Time
		if t.UpdatedAt.After(window) {
			// A trigger created, changed or enabled recently never fires
			// for a time before that.
			tick = sched.Latest(t.UpdatedAt, now)
		} else {
			key := [2]string{cfg.Cron, cfg.Timezone}
			var ok bool
			if tick, ok = latest[key]; !ok {
				tick = sched.Latest(window, now)
				latest[key] = tick
			}
		}
		if !tick.IsZero() {
			fire = append(fire, due{t, tick, cfg})
		}
	}
	st.Due = len(fire)
	for _, f := range fire {
		if ctx.Err() != nil {
			break
		}
		started, err := s.fireSchedule(ctx, f.t, f.tick, f.cfg)
		switch {
		case err != nil:
			st.Failed++
			s.log.Warn("fire schedule trigger", "trigger_id", f.t.ID, "tick", f.tick, "err", err)
		case started.Skipped || started.Duplicate:
			st.Skipped++
		default:
			st.Fired++
		}
	}
	st.Took = time.Since(start)
	if st.Fired > 0 || st.Failed > 0 {
		s.log.Info("schedule tick", "triggers", st.Triggers, "due", st.Due, "fired", st.Fired, "skipped", st.Skipped,
			"failed", st.Failed, "took", st.Took.Round(time.Millisecond))
	}
	return st, ctx.Err()
}

func (s *Service) fireSchedule(ctx context.Context, t *store.Trigger, tick time.Time, cfg TriggerConfig) (*Started, error) {
	w, err := s.st.Workflows().GetByUID(ctx, t.WorkflowUID)
	if errors.Is(err, store.ErrNotFound) {
		return &Started{Skipped: true}, nil // deleted meanwhile
	} else if err != nil {
		return nil, err
	}
	bucket := tick.UTC().Format("2006-01-02T15:04")
	vars := map[string]any{"_trigger": map[string]any{"type": store.TriggerSchedule, "triggerId": t.ID, "cron": cfg.Cron,
		"timezone": cfg.Timezone, "tickBucket": bucket, "timestamp": s.now().Format(time.RFC3339Nano)}}
	meta := map[string]any{"cron": cfg.Cron, "timezone": cfg.Timezone, "tickBucket": bucket}
	return s.start(ctx, startSpec{userID: t.UserID, wf: w, trigger: t, triggerType: store.TriggerSchedule, variables: vars,
		metadata: meta, key: "schedule:" + t.ID + ":" + bucket, tick: tick}, nil)
}

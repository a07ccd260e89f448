package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/agentops/agentops/app/events"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/session"
	"github.com/agentops/agentops/app/workflow"
	"github.com/agentops/agentops/keyring"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// fakeSessions stands in for the session manager: it records what the
// executor asks of it. (The end-to-end tests in package app use the real
// one with real runners.)
type fakeSessions struct {
	mu     sync.Mutex
	kicked []string
	ended  map[string]string
}

func (f *fakeSessions) NewWorkflowSession(userID, workspace string) *store.Session {
	now := time.Now().UTC()
	return &store.Session{ID: uuid.NewString(), UserID: userID, Workspace: workspace, Status: store.StatusInitializing,
		Purpose: store.PurposeWorkflow, Agent: "script", QueueMode: "followup", LastActiveAt: now, CreatedAt: now, UpdatedAt: now}
}

func (f *fakeSessions) KickWorkflow(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kicked = append(f.kicked, id)
	return nil
}

func (f *fakeSessions) EndWorkflowSession(_ context.Context, id, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended == nil {
		f.ended = map[string]string{}
	}
	f.ended[id] = reason
	return nil
}

type recorder struct {
	mu        sync.Mutex
	events    []workflow.Event
	approvals []string
}

func (r *recorder) Publish(_ context.Context, userID string, in events.Input) (events.Event, error) {
	ev, ok := in.Data.(workflow.Event)
	if !ok {
		return events.Event{}, fmt.Errorf("event data %T, want workflow.Event", in.Data)
	}
	if userID != ev.UserID || in.Type != ev.Type || in.SessionID != ev.SessionID {
		return events.Event{}, fmt.Errorf("event %s for user %s published to %s", in.Type, ev.UserID, userID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	return events.Event{}, nil
}

func (r *recorder) ApprovalRequested(_ context.Context, userID, executionID, sessionID, prompt string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.approvals = append(r.approvals, executionID+":"+prompt)
	return nil
}

func (r *recorder) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Type)
	}
	return out
}

// fixture is a service on a fresh database with one user.
type fixture struct {
	st       *store.Store
	svc      *workflow.Service
	sessions *fakeSessions
	rec      *recorder
	user     *store.User
	now      *clockwork.FakeClock
}

// setClock moves c to t, forwards or backwards.
func setClock(c *clockwork.FakeClock, t time.Time) { c.Advance(t.Sub(c.Now())) }

var kr = func() *keyring.Keyring {
	k, err := keyring.Generate()
	if err != nil {
		panic(err)
	}
	return k
}()

func newService(st *store.Store, sessions *fakeSessions, rec *recorder, now *clockwork.FakeClock, cfg workflow.Config) *workflow.Service {
	cfg.Now = now.Now
	cfg.PublicURL = "https://agentops.example"
	return workflow.New(workflow.Deps{Store: st, Sessions: sessions, Sealer: kr, Publisher: rec, Notifier: rec}, cfg)
}

func newFixture(t *testing.T, st *store.Store, cfg workflow.Config) *fixture {
	t.Helper()
	f := &fixture{st: st, sessions: &fakeSessions{}, rec: &recorder{}, now: clockwork.NewFakeClockAt(time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC))}
	f.svc = newService(st, f.sessions, f.rec, f.now, cfg)
	f.user = mkUser(t, st, "owner@example.com")
	return f
}

func mkUser(t *testing.T, st *store.Store, email string) *store.User {
	t.Helper()
	now := time.Now().UTC()
	u := &store.User{ID: uuid.NewString(), Email: email, Role: store.RoleMember, IdleTimeoutSeconds: 900, UIQueueMode: "followup",
		IdentityProvider: "email", CreatedAt: now, UpdatedAt: now}
	if err := st.Users().Create(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func (f *fixture) sync(t *testing.T, id, data string) *store.Workflow {
	t.Helper()
	w, err := f.svc.Sync(context.Background(), f.user.ID, workflow.SyncInput{ID: id, Name: "wf " + id, Data: json.RawMessage(data)})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func wantKind(t *testing.T, what string, err error, kind apperr.Kind, field string) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Kind != kind {
		t.Fatalf("%s: got %v, want kind %d", what, err, kind)
	}
	if field != "" && e.Details["field"] != field {
		t.Fatalf("%s: field %v, want %s (%s)", what, e.Details["field"], field, e.Message)
	}
}

const oneStep = `{"steps":[{"id":"a","type":"bash","command":"true"}]}`

func TestWorkflowSyncHistoryRollback(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		f := newFixture(t, st, workflow.Config{})
		w1 := f.sync(t, "deploy", oneStep)
		// The same definition again (keys reordered) changes nothing.
		f.sync(t, "deploy", `{"steps":[{"command":"true","type":"bash","id":"a"}]}`)
		w2 := f.sync(t, "deploy", `{"steps":[{"id":"a","type":"bash","command":"false"}]}`)
		if w1.Hash == w2.Hash {
			t.Fatal("a new definition keeps the hash")
		}
		slug := "ship"
		desc := "ships it"
		w3, err := f.svc.Update(ctx, f.user.ID, "deploy", workflow.Patch{Slug: workflow.Optional[string]{Set: true, Value: slug},
			Description: workflow.Optional[string]{Set: true, Value: desc}, Tags: &[]string{"prod"}})
		if err != nil {
			t.Fatal(err)
		}
		if w3.Hash != w2.Hash || w3.Slug != "ship" || workflow.Tags(w3)[0] != "prod" {
			t.Fatalf("update: %+v", w3)
		}
		got, err := f.svc.Get(ctx, f.user.ID, "ship")
		if err != nil || got.ID != "deploy" || got.Description != desc {
			t.Fatalf("by slug: %+v %v", got, err)
		}
		// null clears.
		w4, err := f.svc.Update(ctx, f.user.ID, "ship", workflow.Patch{Slug: workflow.Optional[string]{Set: true, Null: true}})
		if err != nil || w4.Slug != "" {
			t.Fatalf("clear slug: %+v %v", w4, err)
		}
		// Bad input changes nothing.
		_, err = f.svc.Update(ctx, f.user.ID, "deploy", workflow.Patch{Data: json.RawMessage(`{"steps":[{"id":"a","type":"bash"}]}`)})
		wantKind(t, "invalid data in an update", err, apperr.KindInvalid, "steps[0].command")
		_, hist, err := f.svc.History(ctx, f.user.ID, "deploy", 50, 0)
		if err != nil {
			t.Fatal(err)
		}
		var sources []string
		for _, v := range hist {
			sources = append(sources, v.Source)
		}
		if strings.Join(sources, ",") != "update,update,sync,sync" {
			t.Fatalf("history (newest first): %v", sources)
		}
		// Rollback to the first definition bumps the version.
		w5, changed, err := f.svc.Rollback(ctx, f.user.ID, "deploy", workflow.RollbackInput{TargetHash: w1.Hash, Notes: "oops"})
		if err != nil || !changed || w5.Hash != w1.Hash || w5.Version != "1.0.1" {
			t.Fatalf("rollback: %+v %v %v", w5, changed, err)
		}
		_, hist, _ = f.svc.History(ctx, f.user.ID, "deploy", 1, 0)
		if hist[0].Source != workflow.SourceRollback || hist[0].Notes != "oops" || hist[0].Hash != w1.Hash {
			t.Fatalf("rollback snapshot: %+v", hist[0])
		}
		_, changed, err = f.svc.Rollback(ctx, f.user.ID, "deploy", workflow.RollbackInput{TargetHash: w1.Hash})
		if err != nil || changed {
			t.Fatalf("rollback to the current definition: %v %v", changed, err)
		}
		_, _, err = f.svc.Rollback(ctx, f.user.ID, "deploy", workflow.RollbackInput{TargetHash: "sha256:nope"})
		wantKind(t, "unknown hash", err, apperr.KindInvalid, "targetWorkflowHash")

		// Slugs are unique per user; another user has its own namespace.
		f.sync(t, "other", oneStep)
		_, err = f.svc.Update(ctx, f.user.ID, "other", workflow.Patch{Slug: workflow.Optional[string]{Set: true, Value: "x"}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.Update(ctx, f.user.ID, "deploy", workflow.Patch{Slug: workflow.Optional[string]{Set: true, Value: "x"}})
		wantKind(t, "slug taken", err, apperr.KindConflict, "")
		stranger := mkUser(t, st, "stranger@example.com")
		if _, err := f.svc.Get(ctx, stranger.ID, "deploy"); err == nil {
			t.Fatal("another user's workflow is visible")
		}
		if _, err := f.svc.Sync(ctx, stranger.ID, workflow.SyncInput{ID: "deploy", Name: "mine", Data: json.RawMessage(oneStep)}); err != nil {
			t.Fatalf("another user may use the same id: %v", err)
		}

		// sync-all: the set becomes exactly the given one; all or nothing.
		_, _, err = f.svc.SyncAll(ctx, f.user.ID, []workflow.SyncInput{{ID: "a", Name: "a", Data: json.RawMessage(oneStep)},
			{ID: "b", Name: "b", Data: json.RawMessage(`{"steps":[]}`)}})
		wantKind(t, "sync-all with a bad definition", err, apperr.KindInvalid, "workflows[1].data.steps")
		if list, _ := f.svc.List(ctx, f.user.ID); len(list) != 2 {
			t.Fatalf("a failed sync-all changed the set: %d", len(list))
		}
		synced, deleted, err := f.svc.SyncAll(ctx, f.user.ID, []workflow.SyncInput{{ID: "a", Name: "a", Data: json.RawMessage(oneStep)},
			{ID: "deploy", Name: "wf deploy", Data: json.RawMessage(oneStep)}})
		if err != nil || synced != 2 || deleted != 1 {
			t.Fatalf("sync-all: %d %d %v", synced, deleted, err)
		}
		if _, err := f.svc.Get(ctx, f.user.ID, "other"); err == nil {
			t.Fatal("sync-all kept a workflow not in the set")
		}
	})
}

func TestTriggers(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		f := newFixture(t, st, workflow.Config{})
		f.sync(t, "w", oneStep)
		mk := func(cfg string) (*workflow.TriggerView, error) {
			return f.svc.CreateTrigger(ctx, f.user.ID, workflow.TriggerInput{WorkflowID: "w", Name: "t", Config: json.RawMessage(cfg)})
		}
		for _, bad := range []struct{ cfg, field string }{
			{`{"type":"cron"}`, "config.type"},
			{`{"type":"webhook"}`, "config.path"},
			{`{"type":"webhook","path":"../x"}`, "config.path"},
			{`{"type":"webhook","path":"a//b"}`, "config.path"},
			{`{"type":"webhook","path":"x","method":"TRACE"}`, "config.method"},
			{`{"type":"schedule","cron":"* * *"}`, "config.cron"},
			{`{"type":"schedule","cron":"* * * * *","timezone":"Nowhere/City"}`, "config.timezone"},
			{`{"type":"schedule","cron":"* * * * *","target":"orchestrator","prompt":"hi"}`, "config.target"},
		} {
			_, err := mk(bad.cfg)
			wantKind(t, bad.cfg, err, apperr.KindInvalid, bad.field)
		}
		if _, err := f.svc.CreateTrigger(ctx, f.user.ID, workflow.TriggerInput{WorkflowID: "nope", Name: "t", Config: json.RawMessage(`{"type":"manual"}`)}); err == nil {
			t.Fatal("a trigger for an unknown workflow")
		}
		hook, err := mk(`{"type":"webhook","path":"gh/push","secret":"s3cret"}`)
		if err != nil {
			t.Fatal(err)
		}
		if !hook.HasSecret || hook.WebhookSecret == "" || strings.Contains(hook.WebhookSecret, "s3cret") || f.svc.WebhookURL("gh/push") != "https://agentops.example/webhooks/gh/push" {
			t.Fatalf("webhook trigger: %+v", hook)
		}
		// Paths are unique across users.
		other := mkUser(t, st, "other@example.com")
		if _, err := f.svc.Sync(ctx, other.ID, workflow.SyncInput{ID: "w", Name: "w", Data: json.RawMessage(oneStep)}); err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.CreateTrigger(ctx, other.ID, workflow.TriggerInput{WorkflowID: "w", Name: "t", Config: json.RawMessage(`{"type":"webhook","path":"gh/push"}`)})
		wantKind(t, "a path another user has", err, apperr.KindInvalid, "config.path")
		if e, _ := apperr.As(err); e.Message != "Webhook path already in use" {
			t.Fatalf("message %q", e.Message)
		}
		// A config without "secret" keeps the secret; "" removes it.
		v, err := f.svc.UpdateTrigger(ctx, f.user.ID, hook.ID, workflow.TriggerPatch{Config: json.RawMessage(`{"type":"webhook","path":"gh/push2","method":"put"}`)})
		if err != nil || !v.HasSecret || v.Config.Method != "PUT" || v.WebhookPath != "gh/push2" {
			t.Fatalf("patch keeping the secret: %+v %v", v, err)
		}
		v, err = f.svc.UpdateTrigger(ctx, f.user.ID, hook.ID, workflow.TriggerPatch{Config: json.RawMessage(`{"type":"webhook","path":"gh/push2","secret":""}`)})
		if err != nil || v.HasSecret {
			t.Fatalf("patch removing the secret: %+v %v", v, err)
		}
		// Schedules show their next runs in their zone.
		setClock(f.now, time.Date(2025, 6, 2, 9, 0, 30, 0, time.UTC))
		sched, err := mk(`{"type":"schedule","cron":"0 12 * * *","timezone":"America/New_York"}`)
		if err != nil {
			t.Fatal(err)
		}
		if len(sched.NextRuns) != 5 || !sched.NextRuns[0].Equal(time.Date(2025, 6, 2, 16, 0, 0, 0, time.UTC)) {
			t.Fatalf("next runs %v", sched.NextRuns)
		}
		// Triggers are the owner's.
		if _, err := f.svc.GetTrigger(ctx, other.ID, hook.ID); err == nil {
			t.Fatal("another user's trigger is visible")
		}
		if err := f.svc.DeleteTrigger(ctx, other.ID, hook.ID); err == nil {
			t.Fatal("another user deleted a trigger")
		}
		list, err := f.svc.ListTriggers(ctx, f.user.ID, "")
		if err != nil || len(list) != 2 || list[0].WorkflowID != "w" {
			t.Fatalf("list: %v %v", list, err)
		}
	})
}

// TestTickOncePerMinuteAcrossReplicas: two services on one database (two
// replicas) evaluating the same minute start one execution; missed ticks
// fire once within the grace window and never in a burst.
func TestTickOncePerMinuteAcrossReplicas(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			url := storetest.URL(t, d)
			a := newFixture(t, storetest.OpenURL(t, url), workflow.Config{})
			b := newService(storetest.OpenURL(t, url), a.sessions, a.rec, a.now, workflow.Config{})
			a.sync(t, "w", oneStep)
			setClock(a.now, time.Date(2025, 6, 2, 8, 59, 10, 0, time.UTC))
			every, err := a.svc.CreateTrigger(ctx, a.user.ID, workflow.TriggerInput{WorkflowID: "w", Name: "every 5",
				Config: json.RawMessage(`{"type":"schedule","cron":"*/5 * * * *"}`)})
			if err != nil {
				t.Fatal(err)
			}
			hourly, err := a.svc.CreateTrigger(ctx, a.user.ID, workflow.TriggerInput{WorkflowID: "w", Name: "hourly",
				Config: json.RawMessage(`{"type":"schedule","cron":"0 * * * *"}`)})
			if err != nil {
				t.Fatal(err)
			}
			count := func(trigger string) int {
				list, err := a.svc.ListExecutions(ctx, a.user.ID, workflow.ExecutionFilter{}, 200, 0)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, e := range list {
					if e.TriggerID == trigger {
						n++
					}
				}
				return n
			}
			finishAll := func() { // keep the limits out of the way
				list, _ := a.svc.ListExecutions(ctx, a.user.ID, workflow.ExecutionFilter{Status: store.ExecPending}, 200, 0)
				for _, e := range list {
					if _, err := a.svc.Cancel(ctx, a.user.ID, e.ID, ""); err != nil {
						t.Fatal(err)
					}
				}
			}
			tickBoth := func(at time.Time) {
				setClock(a.now, at)
				var wg sync.WaitGroup
				for _, svc := range []*workflow.Service{a.svc, b, a.svc, b} {
					wg.Go(func() {
						if _, err := svc.Tick(ctx); err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
				finishAll()
			}
			tickBoth(time.Date(2025, 6, 2, 9, 0, 0, 100, time.UTC))
			if count(every.ID) != 1 || count(hourly.ID) != 1 {
				t.Fatalf("09:00: %d and %d executions", count(every.ID), count(hourly.ID))
			}
			tickBoth(time.Date(2025, 6, 2, 9, 1, 0, 0, time.UTC)) // nothing due; 09:00 is claimed
			tickBoth(time.Date(2025, 6, 2, 9, 5, 0, 0, time.UTC))
			if count(every.ID) != 2 || count(hourly.ID) != 1 {
				t.Fatalf("09:05: %d and %d", count(every.ID), count(hourly.ID))
			}
			// Down from 09:06 to 10:03: 10:00 fires late, once; 09:10…09:55 never.
			tickBoth(time.Date(2025, 6, 2, 10, 3, 0, 0, time.UTC))
			if count(every.ID) != 3 || count(hourly.ID) != 2 {
				t.Fatalf("after the outage: %d and %d", count(every.ID), count(hourly.ID))
			}
			// Down from 10:04 to 12:30: outside the grace window, nothing fires.
			stats, err := a.svc.Tick(ctx)
			if err != nil || stats.Fired != 0 {
				t.Fatalf("the same minute again: %+v %v", stats, err)
			}
			setClock(a.now, time.Date(2025, 6, 2, 12, 30, 0, 0, time.UTC))
			if stats, _ := a.svc.Tick(ctx); stats.Fired != 1 || stats.Due != 1 {
				t.Fatalf("12:30 after a long outage: %+v", stats) // only */5's 12:30
			}
			if count(hourly.ID) != 2 {
				t.Fatal("a missed hourly run fired outside the window")
			}
			// A trigger created after a run time in the window does not
			// fire for it.
			setClock(a.now, time.Date(2025, 6, 2, 12, 31, 0, 0, time.UTC))
			late, err := a.svc.CreateTrigger(ctx, a.user.ID, workflow.TriggerInput{WorkflowID: "w", Name: "12:30",
				Config: json.RawMessage(`{"type":"schedule","cron":"30 12 * * *"}`)})
			if err != nil {
				t.Fatal(err)
			}
			setClock(a.now, time.Date(2025, 6, 2, 12, 32, 0, 0, time.UTC))
			if _, err := a.svc.Tick(ctx); err != nil {
				t.Fatal(err)
			}
			if count(late.ID) != 0 {
				t.Fatal("a new trigger fired for a time before it existed")
			}
		})
	}
}

// TestExecutorHooks drives the session-side hooks directly: dispatch,
// a result that needs approval (event, notification, hibernate), approval
// and a resume dispatch, results for other sessions or stale executions.
func TestExecutorHooks(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		f := newFixture(t, st, workflow.Config{})
		f.sync(t, "w", `{"steps":[{"id":"a","type":"bash","command":"true"},{"id":"c","type":"conditional","condition":true,
			"then":[{"id":"gate","type":"approval","prompt":"ok?"}]},{"id":"z","type":"bash","command":"true"}]}`)
		started, err := f.svc.RunWorkflow(ctx, f.user.ID, workflow.RunInput{WorkflowID: "w"})
		if err != nil || !started.Dispatched {
			t.Fatalf("run: %+v %v", started, err)
		}
		e := started.Execution
		h := f.svc.Hooks()
		var d *protocol.WorkflowDispatch
		tx := func(fn func(tx *store.Store) error) {
			t.Helper()
			if err := st.InTx(ctx, fn); err != nil {
				t.Fatal(err)
			}
		}
		tx(func(tx *store.Store) (err error) { d, _, err = h.Dispatch(ctx, tx, e.SessionID); return err })
		if d == nil || d.Kind != protocol.WorkflowRun || d.Payload.Runtime.Attempt != 1 || d.ExecutionID != e.ID {
			t.Fatalf("dispatch: %+v", d)
		}
		// Another session cannot report for it.
		env := &protocol.WorkflowEnvelope{Status: protocol.EnvelopeOK, ExecutionID: e.ID}
		tx(func(tx *store.Store) error {
			out, err := h.Result(ctx, tx, uuid.NewString(), &protocol.RunnerFrame{ExecutionID: e.ID, Envelope: env})
			if out.Terminate || out.Hibernate {
				t.Error("a foreign result had an outcome")
			}
			return err
		})
		env = &protocol.WorkflowEnvelope{Status: protocol.EnvelopeNeedsApproval, ExecutionID: e.ID, Output: map[string]any{"x": 1.0},
			Steps: []protocol.WorkflowStepResult{{StepID: "a", Status: "completed", Attempt: 1}, {StepID: "c", Status: "waiting_approval", Attempt: 1},
				{StepID: "gate", Status: "waiting_approval", Attempt: 1}},
			RequiresApproval: &protocol.WorkflowApproval{StepID: "gate", Prompt: "ok?", ResumeToken: "wrf_rt_from_the_runner"}}
		var out session.WorkflowOutcome
		tx(func(tx *store.Store) (err error) {
			out, err = h.Result(ctx, tx, e.SessionID, &protocol.RunnerFrame{ExecutionID: e.ID, Envelope: env})
			return err
		})
		if !out.Hibernate || out.Terminate {
			t.Fatalf("waiting for approval hibernates: %+v", out)
		}
		out.After()
		if f.rec.approvals[0] != e.ID+":ok?" || f.rec.types()[len(f.rec.types())-1] != "workflow.execution.waiting_approval" {
			t.Fatalf("notification %v events %v", f.rec.approvals, f.rec.types())
		}
		det, _ := f.svc.GetExecution(ctx, f.user.ID, e.ID)
		if det.Status != store.ExecWaitingApproval || det.ResumeToken == "" || det.ResumeToken == "wrf_rt_from_the_runner" {
			t.Fatalf("waiting: %+v", det.Execution)
		}
		// Nothing to dispatch while waiting.
		tx(func(tx *store.Store) (err error) { d, _, err = h.Dispatch(ctx, tx, e.SessionID); return err })
		if d != nil {
			t.Fatal("dispatch while waiting")
		}
		if _, err := f.svc.Approve(ctx, f.user.ID, e.ID, workflow.ApproveInput{Approve: true, ResumeToken: det.ResumeToken}); err != nil {
			t.Fatal(err)
		}
		if f.sessions.kicked[len(f.sessions.kicked)-1] != e.SessionID {
			t.Fatal("approval does not wake the session")
		}
		tx(func(tx *store.Store) (err error) { d, _, err = h.Dispatch(ctx, tx, e.SessionID); return err })
		if d == nil || d.Kind != protocol.WorkflowResume || d.Decision != "approve" || d.Payload.ResumeStepID != "gate" ||
			d.Payload.ResumeAttempt != 1 || d.Payload.Runtime.Attempt != 2 || !strings.Contains(string(d.Payload.Outputs), `"x"`) {
			t.Fatalf("resume dispatch: %+v", d)
		}
		env = &protocol.WorkflowEnvelope{Status: protocol.EnvelopeOK, OK: true, ExecutionID: e.ID,
			Steps: []protocol.WorkflowStepResult{{StepID: "c", Status: "completed", Attempt: 1}, {StepID: "z", Status: "completed", Attempt: 2}}}
		tx(func(tx *store.Store) (err error) {
			out, err = h.Result(ctx, tx, e.SessionID, &protocol.RunnerFrame{ExecutionID: e.ID, Envelope: env})
			return err
		})
		if !out.Terminate || out.Reason != "workflow_execution_completed" {
			t.Fatalf("completion: %+v", out)
		}
		steps, _ := f.svc.Steps(ctx, f.user.ID, e.ID)
		var trace []string
		for _, s := range steps {
			trace = append(trace, fmt.Sprintf("%s/%d:%s", s.StepID, s.Attempt, s.Status))
		}
		if strings.Join(trace, " ") != "a/1:completed c/1:completed gate/1:completed z/2:completed" {
			t.Fatalf("trace %v", trace)
		}
		// A late result for a finished execution is dropped.
		tx(func(tx *store.Store) (err error) {
			out, err = h.Result(ctx, tx, e.SessionID, &protocol.RunnerFrame{ExecutionID: e.ID,
				Envelope: &protocol.WorkflowEnvelope{Status: protocol.EnvelopeFailed}})
			return err
		})
		if out.Terminate || out.Hibernate {
			t.Fatal("a stale result changed the session")
		}
		if det, _ := f.svc.GetExecution(ctx, f.user.ID, e.ID); det.Status != store.ExecCompleted {
			t.Fatalf("a stale result changed the execution: %s", det.Status)
		}
	})
}

// TestReconcile: approvals past the timeout are cancelled, executions
// whose session died fail, sessions that never started are started.
func TestReconcile(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		f := newFixture(t, st, workflow.Config{MaxPerUser: 10})
		f.sync(t, "w", oneStep)
		run := func() *store.Execution {
			s, err := f.svc.RunWorkflow(ctx, f.user.ID, workflow.RunInput{WorkflowID: "w"})
			if err != nil {
				t.Fatal(err)
			}
			return s.Execution
		}
		waiting, dead, never := run(), run(), run()
		waiting.Status, waiting.ResumeToken, waiting.ResumeStepID = store.ExecWaitingApproval, "tok", "a"
		waiting.ApprovalRequestedAt = f.now.Now().Add(-25 * time.Hour)
		if err := st.Executions().Update(ctx, waiting, "status", "resume_token", "resume_step_id", "approval_requested_at"); err != nil {
			t.Fatal(err)
		}
		sess, _ := st.Sessions().Get(ctx, dead.SessionID)
		sess.Status = store.StatusError
		if err := st.Sessions().Update(ctx, sess, "status"); err != nil {
			t.Fatal(err)
		}
		f.sessions.kicked = nil
		f.now.Advance(2 * time.Minute)
		stats, err := f.svc.Reconcile(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if stats.TimedOut != 1 || stats.Failed != 1 || stats.Kicked != 1 {
			t.Fatalf("stats %+v", stats)
		}
		get := func(id string) *store.Execution {
			e, err := st.Executions().Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		if e := get(waiting.ID); e.Status != store.ExecCancelled || e.Error != "approval_timeout" || e.ResumeToken != "" {
			t.Fatalf("timed-out approval: %+v", e)
		}
		if e := get(dead.ID); e.Status != store.ExecFailed || e.Error != "workflow_session_error" {
			t.Fatalf("dead session: %+v", e)
		}
		if len(f.sessions.kicked) != 1 || f.sessions.kicked[0] != never.SessionID {
			t.Fatalf("kicked %v, want %s", f.sessions.kicked, never.SessionID)
		}
		if f.sessions.ended[waiting.SessionID] != "workflow_execution_cancelled" {
			t.Fatalf("ended sessions %v", f.sessions.ended)
		}
	})
}

func TestStartChecksLimitsUnderConcurrency(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		f := newFixture(t, st, workflow.Config{MaxPerUser: 3, MaxGlobal: 3})
		f.sync(t, "w", oneStep)
		var mu sync.Mutex
		ok, limited := 0, 0
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				_, err := f.svc.RunWorkflow(ctx, f.user.ID, workflow.RunInput{WorkflowID: "w"})
				mu.Lock()
				defer mu.Unlock()
				var e *apperr.Error
				switch {
				case err == nil:
					ok++
				case errors.As(err, &e) && e.Kind == apperr.KindTooMany:
					limited++
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if ok != 3 || limited != 7 {
			t.Fatalf("%d started, %d limited; want 3 and 7", ok, limited)
		}
	})
}

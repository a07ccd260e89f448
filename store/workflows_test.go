package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func mkWorkflow(t *testing.T, s *store.Store, userID, id, slug string, enabled bool) *store.Workflow {
	t.Helper()
	w := &store.Workflow{UID: uuid.NewString(), UserID: userID, ID: id, Slug: slug, Name: "wf " + id, Version: "1.0.0",
		Data: json.RawMessage(`{"steps":[{"id":"a","type":"bash","command":"true"}]}`), Hash: "sha256:" + id,
		Enabled: enabled, Tags: json.RawMessage(`[]`), CreatedAt: base, UpdatedAt: base}
	noErr(t, "insert workflow", s.Workflows().Insert(context.Background(), w))
	return w
}

func mkTrigger(t *testing.T, s *store.Store, w *store.Workflow, typ, path string, enabled bool) *store.Trigger {
	t.Helper()
	tr := &store.Trigger{ID: uuid.NewString(), UserID: w.UserID, WorkflowUID: w.UID, Name: typ, Enabled: enabled, Type: typ,
		Config: json.RawMessage(`{"type":"` + typ + `","cron":"* * * * *"}`), WebhookPath: path, CreatedAt: base, UpdatedAt: base}
	noErr(t, "insert trigger", s.Triggers().Insert(context.Background(), tr))
	return tr
}

func mkExecution(t *testing.T, s *store.Store, w *store.Workflow, status, key string, started time.Time) *store.Execution {
	t.Helper()
	e := &store.Execution{ID: uuid.NewString(), UserID: w.UserID, WorkflowUID: w.UID, WorkflowID: w.ID, WorkflowName: w.Name,
		WorkflowVersion: w.Version, WorkflowHash: w.Hash, Snapshot: w.Data, TriggerType: store.TriggerManual,
		Variables: json.RawMessage(`{}`), Status: status, IdempotencyKey: key, StartedAt: started, UpdatedAt: started}
	noErr(t, "insert execution", s.Executions().Insert(context.Background(), e))
	return e
}

func TestWorkflowsRepository(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "a@example.com", store.RoleMember, base)
		other := mkUser(t, s, "b@example.com", store.RoleMember, base)
		w := mkWorkflow(t, s, u.ID, "deploy", "ship-it", true)
		// Ids and slugs are per user: another user may use the same.
		ow := mkWorkflow(t, s, other.ID, "deploy", "ship-it", true)
		dup := &store.Workflow{UID: uuid.NewString(), UserID: u.ID, ID: "deploy", Name: "x", Version: "1", Data: w.Data,
			Hash: "h", Tags: json.RawMessage(`[]`), CreatedAt: base, UpdatedAt: base}
		wantErr(t, "same id twice", s.Workflows().Insert(ctx, dup), store.ErrConflict)
		dup.ID, dup.Slug = "other", "ship-it"
		wantErr(t, "same slug twice", s.Workflows().Insert(ctx, dup), store.ErrConflict)
		mkWorkflow(t, s, u.ID, "no-slug-1", "", true)
		mkWorkflow(t, s, u.ID, "no-slug-2", "", true) // NULL slugs repeat

		got, err := s.Workflows().Get(ctx, u.ID, "ship-it")
		noErr(t, "get by slug", err)
		if got.UID != w.UID {
			t.Fatalf("by slug: got %s", got.UID)
		}
		got, err = s.Workflows().Get(ctx, other.ID, "deploy")
		noErr(t, "get by id", err)
		if got.UID != ow.UID {
			t.Fatalf("another user's id resolves to its own workflow")
		}
		// An id wins over another workflow's slug.
		mkWorkflow(t, s, u.ID, "x", "no-slug-1", true)
		got, err = s.Workflows().Get(ctx, u.ID, "no-slug-1")
		noErr(t, "get id over slug", err)
		if got.ID != "no-slug-1" {
			t.Fatalf("id vs slug: got %s", got.ID)
		}
		_, err = s.Workflows().Get(ctx, u.ID, "missing")
		wantErr(t, "missing", err, store.ErrNotFound)
		list, err := s.Workflows().List(ctx, u.ID)
		noErr(t, "list", err)
		if len(list) != 4 {
			t.Fatalf("list: %d", len(list))
		}

		// History: seq grows per workflow; newest first; by hash.
		for i, h := range []string{"sha256:1", "sha256:2", "sha256:1"} {
			v := &store.WorkflowVersion{ID: uuid.NewString(), WorkflowUID: w.UID, Version: fmt.Sprintf("1.0.%d", i), Name: w.Name,
				Hash: h, Data: w.Data, Source: "sync", CreatedBy: u.ID, CreatedAt: at(time.Duration(i) * time.Second)}
			noErr(t, "append version", s.WorkflowVersions().Append(ctx, v))
			if v.Seq != int64(i+1) {
				t.Fatalf("seq %d, want %d", v.Seq, i+1)
			}
		}
		hist, err := s.WorkflowVersions().List(ctx, w.UID, 10, 0)
		noErr(t, "history", err)
		if len(hist) != 3 || hist[0].Seq != 3 || hist[2].Seq != 1 {
			t.Fatalf("history order: %+v", hist)
		}
		v, err := s.WorkflowVersions().GetByHash(ctx, w.UID, "sha256:1")
		noErr(t, "by hash", err)
		if v.Seq != 3 {
			t.Fatalf("newest snapshot of a hash: seq %d", v.Seq)
		}

		// Webhook paths are unique across users.
		hook := mkTrigger(t, s, w, store.TriggerWebhook, "github/push", true)
		clash := &store.Trigger{ID: uuid.NewString(), UserID: other.ID, WorkflowUID: ow.UID, Name: "x", Type: store.TriggerWebhook,
			Config: json.RawMessage(`{}`), WebhookPath: "github/push", CreatedAt: base, UpdatedAt: base}
		wantErr(t, "webhook path clash", s.Triggers().Insert(ctx, clash), store.ErrConflict)
		byPath, err := s.Triggers().GetByWebhookPath(ctx, "github/push")
		noErr(t, "by path", err)
		if byPath.ID != hook.ID {
			t.Fatal("webhook lookup")
		}
		// Schedules: enabled triggers of enabled workflows only.
		sched := mkTrigger(t, s, w, store.TriggerSchedule, "", true)
		mkTrigger(t, s, w, store.TriggerSchedule, "", false)
		off := mkWorkflow(t, s, u.ID, "off", "", false)
		mkTrigger(t, s, off, store.TriggerSchedule, "", true)
		scheds, err := s.Triggers().ListSchedules(ctx)
		noErr(t, "schedules", err)
		if len(scheds) != 1 || scheds[0].ID != sched.ID || scheds[0].WorkflowUID != w.UID || len(scheds[0].Config) == 0 {
			t.Fatalf("schedules: %+v", scheds)
		}

		// Deleting a workflow takes its triggers and history; executions stay, detached.
		e := mkExecution(t, s, w, store.ExecCompleted, "", base)
		noErr(t, "delete workflow", s.Workflows().Delete(ctx, w.UID))
		_, err = s.Triggers().Get(ctx, hook.ID)
		wantErr(t, "trigger after workflow delete", err, store.ErrNotFound)
		if n := countRows(t, s, "workflow_versions", "workflow_uid = ?", w.UID); n != 0 {
			t.Fatalf("%d versions left", n)
		}
		e2, err := s.Executions().Get(ctx, e.ID)
		noErr(t, "execution after workflow delete", err)
		if e2.WorkflowUID != "" || e2.WorkflowID != "deploy" {
			t.Fatalf("detached execution: %+v", e2)
		}
	})
}

func TestScheduleTickClaimedOnce(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "a@example.com", store.RoleMember, base)
		tr := mkTrigger(t, s, mkWorkflow(t, s, u.ID, "w", "", true), store.TriggerSchedule, "", true)
		minute := base.Truncate(time.Minute)
		// Many claimers at once (replicas): exactly one wins.
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 8 {
			wg.Go(func() {
				ok, err := s.Triggers().ClaimTick(ctx, tr.ID, minute, base)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d claims of one minute won, want 1", wins)
		}
		ok, err := s.Triggers().ClaimTick(ctx, tr.ID, minute.Add(time.Minute), base)
		noErr(t, "next minute", err)
		if !ok {
			t.Fatal("the next minute is free")
		}
		n, err := s.Triggers().PruneTicks(ctx, base.Add(time.Second))
		noErr(t, "prune", err)
		if n != 2 {
			t.Fatalf("pruned %d", n)
		}
	})
}

func TestExecutionsRepository(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "a@example.com", store.RoleMember, base)
		other := mkUser(t, s, "b@example.com", store.RoleMember, base)
		w := mkWorkflow(t, s, u.ID, "w", "", true)
		ow := mkWorkflow(t, s, other.ID, "w", "", true)
		statuses := []string{store.ExecPending, store.ExecRunning, store.ExecWaitingApproval, store.ExecCompleted, store.ExecFailed}
		var made []*store.Execution
		for i, st := range statuses {
			made = append(made, mkExecution(t, s, w, st, fmt.Sprintf("k%d", i), at(time.Duration(i)*time.Second)))
		}
		mkExecution(t, s, ow, store.ExecRunning, "k0", base) // keys are per user
		_, err := s.Executions().GetByIdempotencyKey(ctx, u.ID, "k1")
		noErr(t, "by key", err)
		dup := *made[0]
		dup.ID = uuid.NewString()
		wantErr(t, "same key twice", s.Executions().Insert(ctx, &dup), store.ErrConflict)

		user, global, err := s.Executions().CountActive(ctx, u.ID)
		noErr(t, "count", err)
		if user != 3 || global != 4 {
			t.Fatalf("active: user %d global %d", user, global)
		}
		page, err := s.Executions().List(ctx, store.ExecutionFilter{UserID: u.ID}, 2, 1)
		noErr(t, "list", err)
		if len(page) != 2 || page[0].ID != made[3].ID || page[1].ID != made[2].ID {
			t.Fatalf("page: %v", page)
		}
		if len(page[0].Snapshot) != 0 {
			t.Error("lists leave the snapshot out")
		}
		page, err = s.Executions().List(ctx, store.ExecutionFilter{UserID: u.ID, Status: store.ExecFailed, WorkflowUID: w.UID}, 10, 0)
		noErr(t, "filtered", err)
		if len(page) != 1 || page[0].ID != made[4].ID {
			t.Fatalf("filtered: %v", page)
		}

		// The reconcile view joins the session's status (none here).
		sess := mkAgentSession(t, s, u.ID, store.StatusTerminated, base)
		made[1].SessionID = sess.ID
		noErr(t, "set session", s.Executions().Update(ctx, made[1], "session_id"))
		active, err := s.Executions().ListActive(ctx, 100)
		noErr(t, "active", err)
		if len(active) != 4 {
			t.Fatalf("active: %d", len(active))
		}
		for _, a := range active {
			want := ""
			if a.ID == made[1].ID {
				want = store.StatusTerminated
			}
			if a.SessionStatus != want {
				t.Errorf("%s: session status %q, want %q", a.ID, a.SessionStatus, want)
			}
		}
		bySess, err := s.Executions().ListActiveBySession(ctx, sess.ID)
		noErr(t, "by session", err)
		if len(bySess) != 1 || bySess[0].ID != made[1].ID {
			t.Fatalf("by session: %v", bySess)
		}

		// Steps: recorded in the order given, ordered by seq; a repeat of
		// (step, attempt) updates in place and keeps what it lacks.
		id := 0
		newID := func() string { id++; return fmt.Sprintf("s%03d-%s", id, uuid.NewString()) }
		idx := 2
		first := []store.ExecutionStep{
			{StepID: "z", Attempt: 1, Status: store.ExecCompleted, Input: json.RawMessage(`{"a":1}`), Output: json.RawMessage(`"out"`), StartedAt: base},
			{StepID: "a", Attempt: 1, Status: store.ExecWaitingApproval, WorkflowStepIndex: &idx},
		}
		err = s.InTx(ctx, func(tx *store.Store) error {
			return tx.ExecutionSteps().Record(ctx, made[1].ID, first, base, newID)
		})
		noErr(t, "record", err)
		second := []store.ExecutionStep{
			{StepID: "a", Attempt: 1, Status: store.ExecCompleted, Output: json.RawMessage(`{"decision":"approve"}`)},
			{StepID: "a", Attempt: 2, Status: store.ExecCompleted},
			{StepID: "m", Attempt: 2, Status: store.ExecFailed, Error: "boom"},
		}
		err = s.InTx(ctx, func(tx *store.Store) error {
			return tx.ExecutionSteps().Record(ctx, made[1].ID, second, base, newID)
		})
		noErr(t, "record again", err)
		steps, err := s.ExecutionSteps().List(ctx, made[1].ID)
		noErr(t, "steps", err)
		var order []string
		for _, st := range steps {
			order = append(order, fmt.Sprintf("%s/%d/%s", st.StepID, st.Attempt, st.Status))
		}
		want := "[z/1/completed a/1/completed a/2/completed m/2/failed]"
		if fmt.Sprint(order) != want {
			t.Fatalf("trace %v, want %s", order, want)
		}
		if string(steps[1].Output) != `{"decision": "approve"}` && string(steps[1].Output) != `{"decision":"approve"}` {
			t.Errorf("updated output %s", steps[1].Output)
		}
		if steps[1].WorkflowStepIndex == nil || *steps[1].WorkflowStepIndex != 2 {
			t.Errorf("kept index %v", steps[1].WorkflowStepIndex)
		}
		if steps[3].Error != "boom" || !steps[0].StartedAt.Equal(base) {
			t.Errorf("fields: %+v", steps)
		}
	})
}

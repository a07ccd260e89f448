package session_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/session"
	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// waitStatus syncs the harness until the session has a status in want.
func (h *harness) waitStatus(id string, want ...string) string {
	h.t.Helper()
	var status string
	eventually.NoError(h.t, 10*time.Second, "the session's status", func() error {
		h.sync()
		s, err := h.st.Sessions().Get(context.Background(), id)
		if err != nil {
			h.t.Fatal(err)
		}
		if status = s.Status; slices.Contains(want, status) {
			return nil
		}
		return fmt.Errorf("session is %s, want one of %v", status, want)
	})
	return status
}

// TestRestartFinishesAnInterruptedHibernation: a server killed between
// "hibernating" and "hibernated" left the session in between; the next
// server finishes the hibernation, and a prompt that was queued meanwhile
// wakes it.
func TestRestartFinishesAnInterruptedHibernation(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		h := newHarness(t, st, "followup")
		id := h.create()
		h.connectRunner(id).ready()
		h.m.Shutdown(ctx)
		s, _ := st.Sessions().Get(ctx, id)
		s.Status = store.StatusHibernating
		if err := st.Sessions().Update(ctx, s, "status"); err != nil {
			t.Fatal(err)
		}
		h.m = h.newManager()
		if err := h.m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		h.waitStatus(id, store.StatusHibernated)
		if err := h.m.Prompt(ctx, h.user, id, session.PromptInput{Content: "hello"}); err != nil {
			t.Fatal(err)
		}
		h.waitStatus(id, store.StatusRestoring, store.StatusRunning)
		if n := h.sb.count("restore"); n != 1 {
			t.Fatalf("restores: %d", n)
		}
	})
}

// TestRestartStartsAnInterruptedSession: a server killed between Create's
// commit and the spawn left an interactive session "initializing" with no
// sandbox; the next server spawns it (once).
func TestRestartStartsAnInterruptedSession(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		h := newHarness(t, st, "followup")
		now := h.clock.Now()
		s := &store.Session{ID: uuid.NewString(), UserID: h.user.ID, Workspace: "w", Status: store.StatusInitializing,
			Purpose: "interactive", Agent: "script", RunnerTokenHash: "x", QueueMode: "followup",
			LastActiveAt: now, CreatedAt: now, UpdatedAt: now}
		if err := st.Sessions().Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		h.m.Shutdown(ctx)
		spawns := h.sb.count("spawn")
		h.m = h.newManager()
		if err := h.m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		h.waitStatus(s.ID, store.StatusRunning)
		if n := h.sb.count("spawn") - spawns; n != 1 {
			t.Fatalf("spawns after the restart: %d", n)
		}
	})
}

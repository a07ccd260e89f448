package session_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// TestTerminateKeepsDeadlinesWhenItsCommitFails: a terminate whose write
// fails leaves the session as it was, deadlines armed: the idle deadline
// still hibernates it.
func TestTerminateKeepsDeadlinesWhenItsCommitFails(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		h := newHarness(t, st, "followup")
		id := h.create()
		r := h.connectRunner(id)
		r.ready()
		remove := failWrites(t, st, "fail_terminate", "UPDATE", "sessions", "NEW.status = 'terminated'")
		if err := h.m.Terminate(ctx, h.user.ID, id, "test"); err == nil {
			t.Fatal("terminate succeeded although its write failed")
		}
		remove()
		if s, _ := h.m.Get(ctx, h.user.ID, id); s.Status != store.StatusRunning {
			t.Fatalf("status after a failed terminate: %s", s.Status)
		}
		h.clock.Advance(301 * time.Second) // the owner's idle timeout is 300 s
		h.sync()
		if h.sb.count("hibernate") != 1 {
			t.Fatal("the idle deadline was disarmed by a terminate that failed")
		}
		if err := h.m.Terminate(ctx, h.user.ID, id, "test"); err != nil {
			t.Fatal(err)
		}
	})
}

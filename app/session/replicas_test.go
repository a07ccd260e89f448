package session_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/session"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// replica is a second Manager on the same database, as another serve
// process would be, under the harness's clock.
func (h *harness) replica(id string) *session.Manager {
	h.t.Helper()
	m := session.NewManager(h.st, nil, h.sb, session.Config{
		RunnerURL: "http://127.0.0.1:1", Agents: map[string][]protocol.ModelGroup{"script": nil}, Now: h.clock.Now,
		FlushInterval: time.Hour,
		Replica:       session.Replication{ID: id, AdvertiseURL: "http://" + id, Release: "test", Heartbeat: time.Hour},
	}, nil)
	h.t.Cleanup(func() { m.Shutdown(context.Background()) })
	if err := m.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	return m
}

// One owner per session: the replica that started the session runs it,
// the other sends requests there; when the owner stops renewing its lease
// (paused past the lease time) the other takes the session over, and the
// old owner's writes are refused when it resumes: the runner frames it
// takes then are neither acknowledged nor stored, so the runner replays
// them to the new owner.
func TestReplicasOneOwnerTakeoverAndFence(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		h := newHarness(t, st, "followup")
		a := h.replica("r1")
		b := h.replica("r2")
		h.m = a
		id := h.create()

		if url, err := b.Owner(ctx, id); err != nil || url != "http://r1" {
			t.Fatalf("owner seen from r2: %q, %v; want http://r1", url, err)
		}
		if url, err := a.Owner(ctx, id); err != nil || url != "" {
			t.Fatalf("owner seen from r1: %q, %v; want here", url, err)
		}
		err := b.Prompt(ctx, h.user, id, session.PromptInput{Content: "to r2"})
		var ae *apperr.Error
		if !errors.As(err, &ae) || ae.Kind != apperr.KindUnavailable {
			t.Fatalf("prompt on a non-owner that was not forwarded: %v, want a 503 to retry", err)
		}

		r := h.connectRunner(id)
		r.ready()
		h.prompt(id, "one", "")
		p := r.prompts()
		if len(p) != 1 {
			t.Fatalf("prompts %v", p)
		}
		r.turn(p[0]["messageId"].(string), "first answer")

		// r1 pauses: no heartbeat for longer than the lease.
		h.clock.Advance(21 * time.Second)
		b.Heartbeat(ctx)
		if b.LiveActors() != 1 {
			t.Fatal("r2 did not take the expired session over")
		}
		l, err := st.Leases().Get(ctx, id)
		if err != nil || l.Owner != "r2" || l.Epoch != 2 {
			t.Fatalf("lease after takeover %+v, %v", l, err)
		}

		// r1 resumes: the runner's next frames reach its old actor, whose
		// write is fenced; it stops and drops the runner.
		r.send("message.create", map[string]any{"turnId": "stale-turn"})
		r.send("message.part.text-delta", map[string]any{"turnId": "stale-turn", "delta": "written by a stale owner"})
		r.send("complete", map[string]any{})
		a.FireDue()
		deadline := time.Now().Add(5 * time.Second)
		for a.LiveActors() != 0 {
			if time.Now().After(deadline) {
				t.Fatal("the fenced actor on r1 did not stop")
			}
			time.Sleep(5 * time.Millisecond)
		}
		r.c.mu.Lock()
		closed := r.c.closed
		r.c.mu.Unlock()
		if closed != protocol.CloseGoingAway {
			t.Fatalf("the runner of a fenced actor was closed with %d, want going away (reconnect)", closed)
		}
		for _, line := range h.transcript(id) {
			if strings.Contains(line, "stale owner") {
				t.Fatalf("a stale owner's text was stored: %v", h.transcript(id))
			}
		}

		// The runner reconnects through r2 and the session goes on there.
		h.m = b
		r2 := h.connectRunner(id)
		r2.ready()
		if url, err := a.Owner(ctx, id); err != nil || url != "http://r2" {
			t.Fatalf("owner seen from r1 after takeover: %q, %v", url, err)
		}
		h.prompt(id, "two", "")
		p = r2.prompts()
		if len(p) != 1 {
			t.Fatalf("prompts on the new owner %v", p)
		}
		r2.turn(p[0]["messageId"].(string), "second answer")
		got := strings.Join(h.transcript(id), "|")
		if !strings.Contains(got, "first answer") || !strings.Contains(got, "second answer") {
			t.Fatalf("transcript after failover: %s", got)
		}
	})
}

// SIGTERM hands over at once: a replica that shuts down releases its
// leases, and another takes the session at its next heartbeat without
// waiting for the lease to expire.
func TestReplicaShutdownHandsOver(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		h := newHarness(t, st, "followup")
		a := h.replica("r1")
		b := h.replica("r2")
		h.m = a
		id := h.create()
		if a.Draining() {
			t.Fatal("draining before shutdown")
		}
		a.Shutdown(ctx)
		if !a.Draining() {
			t.Fatal("a replica that shut down does not say it is draining")
		}
		if url, err := b.Owner(ctx, id); err != nil || url != "" {
			t.Fatalf("owner after hand-over: %q, %v; want r2 to serve it", url, err)
		}
		b.Heartbeat(ctx) // no clock advance: the lease was released
		if b.LiveActors() != 1 {
			t.Fatal("r2 did not take the handed-over session at once")
		}
		reps, err := st.Replicas().Live(ctx, time.Time{})
		if err != nil || len(reps) != 1 || reps[0].ID != "r2" {
			t.Fatalf("replicas after r1 stopped: %+v, %v", reps, err)
		}
	})
}

// A local runner lives on its replica's machine: when that replica stops
// and the runner does not come back to the replica that took the session
// over, the session ends with an error that says why, rather than getting
// a new runner in an empty workspace.
func TestLocalRunnerOfAStoppedReplicaEndsTheSession(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		h := newHarness(t, st, "followup")
		a := h.replica("r1")
		b := h.replica("r2")
		h.m = a
		id := h.create()
		r := h.connectRunner(id)
		r.ready()
		a.Shutdown(ctx) // r1 stops; its local runner has nowhere to go
		b.Heartbeat(ctx)
		if b.LiveActors() != 1 {
			t.Fatal("r2 did not take the session over")
		}
		h.m = b
		h.clock.Advance(61 * time.Second) // past the runner-lost grace
		b.FireDue()
		var sess *store.Session
		deadline := time.Now().Add(5 * time.Second)
		for {
			var err error
			if sess, err = b.Get(ctx, h.user.ID, id); err != nil {
				t.Fatal(err)
			}
			if sess.Status == store.StatusError || time.Now().After(deadline) {
				break
			}
			b.FireDue()
			time.Sleep(5 * time.Millisecond)
		}
		if sess.Status != store.StatusError || !strings.Contains(sess.ErrorMessage, "stopped and did not come back") {
			t.Fatalf("session after its local runner's replica stopped: %s %q", sess.Status, sess.ErrorMessage)
		}
		if n := h.sb.count("restore"); n != 0 {
			t.Fatalf("a new local runner was started %d times in an empty workspace", n)
		}
	})
}

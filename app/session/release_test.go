package session_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// TestHibernatedSessionReleasesItsActor: a hibernated session with
// nothing left to do (no socket, no deadline) has no actor; any call
// brings one back, and sockets, deadlines and wake work as before.
func TestHibernatedSessionReleasesItsActor(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		h := newHarness(t, st, "followup")
		waitActors := func(want int) {
			t.Helper()
			deadline := time.Now().Add(5 * time.Second)
			for h.m.LiveActors() != want {
				if time.Now().After(deadline) {
					t.Fatalf("live actors: %d, want %d", h.m.LiveActors(), want)
				}
				h.sync()
				time.Sleep(5 * time.Millisecond)
			}
		}
		id := h.create()
		r := h.connectRunner(id)
		r.ready()
		r.send("question", map[string]any{"questionId": "q1", "text": "Still there?"})
		c := newConn(h.user.ID)
		bs, err := h.m.AttachClient(ctx, h.user, id, c)
		if err != nil {
			t.Fatal(err)
		}
		if s, err := h.m.Hibernate(ctx, h.user.ID, id); err != nil || s != store.StatusHibernated {
			t.Fatalf("hibernate: %s %v", s, err)
		}
		h.sync()
		if h.m.LiveActors() != 1 {
			t.Fatal("an actor with a browser and a deadline stays")
		}
		bs.Closed()
		h.sync()
		if h.m.LiveActors() != 1 {
			t.Fatal("an actor with a deadline stays")
		}
		h.clock.Advance(5 * time.Minute)
		h.sync()
		if exp := ofType(c.take(), "interactive_prompt_expired"); len(exp) != 0 {
			t.Fatalf("a browser that left hears nothing: %v", exp)
		}
		waitActors(0) // the question expired: nothing left to do
		if s, err := h.m.Get(ctx, h.user.ID, id); err != nil || s.Status != store.StatusHibernated {
			t.Fatalf("get a released session: %v %v", s, err)
		}

		// A browser brings the actor back, and wake works.
		c2 := newConn(h.user.ID)
		bs2, err := h.m.AttachClient(ctx, h.user, id, c2)
		if err != nil {
			t.Fatal(err)
		}
		if init := ofType(c2.take(), "init"); len(init) != 1 || init[0]["session"].(map[string]any)["status"] != store.StatusHibernated {
			t.Fatalf("init of a hibernated session: %v", init)
		}
		if h.m.LiveActors() != 1 {
			t.Fatal("a browser brings the actor back")
		}
		if s, err := h.m.Wake(ctx, h.user.ID, id); err != nil || s != store.StatusRunning {
			t.Fatalf("wake: %s %v", s, err)
		}
		r2 := h.connectRunner(id)
		r2.ready()
		h.prompt(id, "again", "")
		ps := r2.prompts()
		if len(ps) != 1 || ps[0]["content"] != "again" {
			t.Fatalf("the woken session runs prompts: %v", ps)
		}
		r2.turn(ps[0]["messageId"].(string), "done")

		// Hibernated again; the browser leaves; a prompt wakes it.
		if _, err := h.m.Hibernate(ctx, h.user.ID, id); err != nil {
			t.Fatal(err)
		}
		bs2.Closed()
		waitActors(0)
		h.prompt(id, "wake up", "")
		if n := h.sb.count("restore"); n != 2 {
			t.Fatalf("a prompt wakes a released session: %d restores", n)
		}
		r3 := h.connectRunner(id)
		r3.ready()
		if ps := r3.prompts(); len(ps) != 1 || ps[0]["content"] != "wake up" {
			t.Fatalf("the queued prompt goes to the new runner: %v", ps)
		}
	})
}

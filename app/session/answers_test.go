package session_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// TestAnswerIsKeptUntilTheRunnerHasIt: an answered question stays stored
// until the turn that asked it ends; a runner that reconnects (here after
// a restart of the server) gets the answer again.
func TestAnswerIsKeptUntilTheRunnerHasIt(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		h := newHarness(t, st, "followup")
		id := h.create()
		r := h.connectRunner(id)
		r.ready()
		h.prompt(id, "ask me", "")
		msg := r.prompts()[0]["messageId"].(string)
		r.send("question", map[string]any{"messageId": msg, "questionId": "q1", "text": "Which?", "options": []string{"red", "blue"}})
		sock, _ := h.m.AttachClient(ctx, h.user, id, newConn(h.user.ID))
		sock.Frame([]byte(`{"type":"answer","questionId":"q1","answer":"option_0"}`))
		h.sync()
		if ans := ofType(r.c.take(), "answer"); len(ans) != 1 || ans[0]["answer"] != "red" {
			t.Fatalf("runner answer: %v", ans)
		}

		// The server goes away before the runner read the answer.
		h.m.Shutdown(ctx)
		h.m = h.newManager()
		if err := h.m.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if ip := ofType(h.browser(id).take(), "interactive_prompt"); len(ip) != 0 {
			t.Fatalf("an answered question is not asked again: %v", ip)
		}
		c := newConn("")
		rsock, err := h.m.AttachRunner(ctx, id, c)
		if err != nil {
			t.Fatal(err)
		}
		frames := c.take()
		if ans := ofType(frames, "answer"); len(ans) != 1 || ans[0]["questionId"] != "q1" || ans[0]["answer"] != "red" {
			t.Fatalf("a reconnecting runner gets the stored answer: %v", ans)
		}
		h.clock.Advance(6 * time.Minute)
		h.sync()
		if ans := ofType(c.take(), "answer"); len(ans) != 0 {
			t.Fatalf("an answered question does not expire: %v", ans)
		}
		r2 := &runner{h: h, sock: rsock, c: c, seq: int64(ofType(frames, "init")[0]["lastSeq"].(float64))}
		r2.send("complete", map[string]any{"messageId": msg})
		if qs, err := st.InteractivePrompts().List(ctx, id); err != nil || len(qs) != 0 {
			t.Fatalf("the answer is dropped when its turn ends: %v %v", qs, err)
		}
	})
}

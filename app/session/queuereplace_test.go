package session_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// TestPromoteAndReplaceAreOneCommit: queue.promote and queue.replace
// withdraw the pending followup and store the steer prompt in one
// transaction, so a failed write leaves the pending prompt where it was.
func TestPromoteAndReplaceAreOneCommit(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st, "followup")
		id := h.create()
		r := h.connectRunner(id)
		r.ready()
		h.prompt(id, "long", "")
		if len(r.prompts()) != 1 {
			t.Fatal("dispatched")
		}
		h.prompt(id, "P", "")
		sock, err := h.m.AttachClient(context.Background(), h.user, id, newConn(h.user.ID))
		if err != nil {
			t.Fatal(err)
		}
		remove := failWrites(t, st, "fail_steer", "INSERT", "prompt_queue", "NEW.priority = 1")
		for _, f := range []string{`{"type":"queue.replace","content":"R"}`, `{"type":"queue.promote"}`} {
			sock.Frame([]byte(f))
			h.sync()
			if got := fmt.Sprint(queued(t, st, id)); got != "[long:processing:0 P:queued:0]" {
				t.Fatalf("%s whose steer prompt could not be stored: queue %s", f, got)
			}
		}
		remove()
		sock.Frame([]byte(`{"type":"queue.promote"}`))
		h.sync()
		if got := fmt.Sprint(queued(t, st, id)); got != "[P:queued:1 long:processing:0]" {
			t.Fatalf("promoted: queue %s", got)
		}
		h.prompt(id, "Q", "")
		sock.Frame([]byte(`{"type":"queue.replace","content":"R"}`))
		h.sync()
		if got := fmt.Sprint(queued(t, st, id)); got != "[P:queued:1 R:queued:1 long:processing:0]" {
			t.Fatalf("replaced: queue %s", got)
		}
	})
}

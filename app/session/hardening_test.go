package session_test

import (
	"context"
	"testing"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// A failed turn's error frame names the stored system message (upstream's
// client adds a message under that id), never the prompt's message, and the
// stored text has upstream's "Error: " prefix.
func TestErrorFrameNamesTheStoredMessage(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		h := newHarness(t, st, "followup")
		id := h.create()
		r := h.connectRunner(id)
		r.ready()
		b := h.browser(id)
		h.prompt(id, "fail please", "")
		prompt := r.prompts()[0]["messageId"].(string)
		b.take()
		r.send("error", map[string]any{"messageId": prompt, "error": "model overloaded"})
		frames := b.take()
		errs := ofType(frames, "error")
		if len(errs) != 1 {
			t.Fatalf("one error frame: %v", frames)
		}
		if errs[0]["messageId"] == prompt {
			t.Fatal("the error frame must not carry the prompt's messageId (that message exists: a duplicate key)")
		}
		msgs, err := h.m.Messages(context.Background(), h.user.ID, id, store.MessageQuery{})
		if err != nil {
			t.Fatal(err)
		}
		last := msgs[len(msgs)-1]
		if last.Role != "system" || last.Content != "Error: model overloaded" {
			t.Fatalf("stored error message: %s %q", last.Role, last.Content)
		}
		if errs[0]["messageId"] != last.ID || errs[0]["error"] != "model overloaded" {
			t.Fatalf("the error frame names the stored message %s: %v", last.ID, errs[0])
		}
		if m := ofType(frames, "message"); len(m) != 1 || m[0]["data"].(map[string]any)["id"] != last.ID {
			t.Fatalf("the message frame carries the same id: %v", m)
		}
	})
}

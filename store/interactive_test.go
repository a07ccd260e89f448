package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func TestInteractivePromptAnswers(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "a@example.com", store.RoleMember, base)
		sess := mkAgentSession(t, s, u.ID, "running", base)
		q := &store.InteractivePrompt{ID: "p1", SessionID: sess.ID, Type: "question", QuestionID: "q1", Text: "Which?",
			CreatedAt: base, ExpiresAt: base.Add(time.Minute)}
		noErr(t, "ask", s.InteractivePrompts().Upsert(ctx, q))
		noErr(t, "answer", s.InteractivePrompts().SetAnswer(ctx, sess.ID, "q1", []byte(`{"pick":"red"}`)))
		got, err := s.InteractivePrompts().List(ctx, sess.ID)
		noErr(t, "list", err)
		var answer map[string]string
		if len(got) != 1 || json.Unmarshal(got[0].Answer, &answer) != nil || answer["pick"] != "red" {
			t.Fatalf("stored answer: %+v", got)
		}
		if err := s.InteractivePrompts().SetAnswer(ctx, sess.ID, "nope", []byte(`"x"`)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("answer to an unknown question: %v", err)
		}
		// Asked again: the question is pending again.
		noErr(t, "ask again", s.InteractivePrompts().Upsert(ctx, q))
		got, _ = s.InteractivePrompts().List(ctx, sess.ID)
		if len(got) != 1 || got[0].Answer != nil {
			t.Fatalf("asked again: %+v", got)
		}
	})
}

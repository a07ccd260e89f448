package app_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/agentops/agentops/store"
)

// TestPersonaInHandshake: a session created with personaId hands the
// persona's instruction files to its agent in plugin-content (in sort
// order); one created without gets the default persona's.
func TestPersonaInHandshake(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		s := startServer(t, d, "local")
		var created struct {
			Persona struct{ ID string } `json:"persona"`
		}
		s.mustJSON("POST", "/api/personas", s.token, map[string]any{"name": "Reviewer", "slug": "reviewer", "files": []map[string]any{
			{"filename": "tone.md", "content": "Be kind.", "sortOrder": 2},
			{"filename": "rules.md", "content": "Check the tests first.", "sortOrder": 1},
		}}, 201, &created)
		s.mustJSON("POST", "/api/personas", s.token, map[string]any{"name": "Default", "slug": "default", "isDefault": true,
			"files": []map[string]any{{"filename": "base.md", "content": "You are helpful."}}}, 201, nil)

		reply := func(body map[string]any) string {
			t.Helper()
			c := s.createSession(body)
			b := s.dial(c.Session.ID, s.token)
			b.waitReady()
			b.send(map[string]any{"type": "prompt", "content": "/persona"})
			b.turnDone()
			msgs := s.messages(c.Session.ID)
			if len(msgs) != 2 {
				t.Fatalf("transcript: %+v", msgs)
			}
			return msgs[1].Content
		}
		if got, want := reply(map[string]any{"personaId": created.Persona.ID}),
			"Persona file rules.md:\nCheck the tests first.\nPersona file tone.md:\nBe kind."; got != want {
			t.Fatalf("the agent saw %q, want %q", got, want)
		}
		if got, want := reply(nil), "Persona file base.md:\nYou are helpful."; got != want {
			t.Fatalf("without personaId the agent saw %q, want the default %q", got, want)
		}

		// A persona that does not exist, or is not an id: refused, nothing made.
		code, raw := s.call("POST", "/api/sessions", s.token, map[string]any{"workspace": "w", "personaId": uuid.NewString()})
		if code != 404 {
			t.Fatalf("missing persona: %d %s", code, raw)
		}
		code, raw = s.call("POST", "/api/sessions", s.token, map[string]any{"workspace": "w", "personaId": "nope"})
		if code != 400 {
			t.Fatalf("bad personaId: %d %s", code, raw)
		}
		var list struct{ Sessions []any }
		s.mustJSON("GET", "/api/sessions", s.token, nil, 200, &list)
		if len(list.Sessions) != 2 {
			t.Fatalf("refused creates made sessions: %d", len(list.Sessions))
		}
	})
}

package app_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/store"
)

// TestCredentialModelsListLimitsTheModels: a credential with a models
// list is what the caller can pick for that provider, on create
// (initialModel) and on a prompt (model): anything else is a 400 that
// names the allowed models and changes nothing.
func TestCredentialModelsListLimitsTheModels(t *testing.T) {
	// External runners: the server cannot see their machine, so codex is
	// usable on the strength of the credential alone.
	s := startServer(t, store.SQLite, "external")
	s.mustJSON("PUT", "/api/auth/me/credentials/custom-local", s.token,
		map[string]any{"key": "sk-fake", "baseUrl": "http://127.0.0.1:1/v1", "models": []string{"m1", "m2"}}, 200, nil)

	wantRefusal := func(what string, code int, raw []byte) {
		t.Helper()
		var body struct {
			Error, Code string
			Details     any
		}
		_ = json.Unmarshal(raw, &body)
		if code != 400 || !strings.Contains(body.Error, "m1, m2") || !strings.Contains(body.Error, "custom-local") {
			t.Fatalf("%s: %d %s; want 400 naming the allowed models", what, code, raw)
		}
	}
	var before struct{ Sessions []any }
	s.mustJSON("GET", "/api/sessions", s.token, nil, 200, &before)
	code, raw := s.call("POST", "/api/sessions", s.token, map[string]any{"workspace": "w", "agent": "codex", "initialModel": "gpt-5"})
	wantRefusal("create with a model outside the list", code, raw)
	var after struct{ Sessions []any }
	s.mustJSON("GET", "/api/sessions", s.token, nil, 200, &after)
	if len(after.Sessions) != len(before.Sessions) {
		t.Fatalf("a refused create made a session: %d → %d", len(before.Sessions), len(after.Sessions))
	}

	s.createSession(map[string]any{"workspace": "w", "agent": "codex", "initialModel": "m1"})
	id := s.createSession(map[string]any{"workspace": "w", "agent": "codex", "initialModel": "custom-local/m2"}).Session.ID

	code, raw = s.call("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "hi", "model": "custom-local/gpt-5"})
	wantRefusal("prompt with a model outside the list", code, raw)
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "hi", "model": "m2"}, 200, nil)
	// No model: the agent's default, always allowed.
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "hi again"}, 200, nil)

	// The script agent has no credential: any model name goes.
	s.createSession(map[string]any{"workspace": "w", "agent": "script", "initialModel": "anything"})
}

// TestSessionShowsAgentSessionID: GET /api/sessions/:id carries the
// agent's own session id once a turn reported it.
func TestSessionShowsAgentSessionID(t *testing.T) {
	s := startServer(t, store.SQLite, "local")
	id := s.createSession(map[string]any{"agent": "script"}).Session.ID
	var got struct {
		Session map[string]any `json:"session"`
	}
	s.mustJSON("GET", "/api/sessions/"+id, s.token, nil, 200, &got)
	if _, ok := got.Session["agentSessionId"]; ok {
		t.Fatalf("agentSessionId before any turn: %v", got.Session)
	}
	s.promptAndWait(id, "hello")
	eventually.True(t, 10*time.Second, "agentSessionId in GET /api/sessions/:id", func() bool {
		s.mustJSON("GET", "/api/sessions/"+id, s.token, nil, 200, &got)
		v, _ := got.Session["agentSessionId"].(string)
		return v != ""
	})
}

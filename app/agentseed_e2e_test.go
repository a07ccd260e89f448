package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/app/runner/agent"
	"github.com/agentops/agentops/app/runner/agent/agenttest"
	"github.com/agentops/agentops/app/runner/agent/claudecode"
	"github.com/agentops/agentops/app/runner/agent/codex"
	"github.com/agentops/agentops/app/runner/agent/opencode"
	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/internal/testutil/fakemodel"
	"github.com/agentops/agentops/store"
)

// TestAgentStateGoneSeedsTheTranscript: for each real CLI, when the
// agent's own state is gone between two turns (here: its state dir
// deleted while the session is hibernated, as after a restored backup or
// on another machine), the next turn starts a new agent session whose
// first model request carries the earlier turn and a note saying why.
func TestAgentStateGoneSeedsTheTranscript(t *testing.T) {
	for _, c := range []struct {
		info       agent.Info
		credential string
		body       func(url string) map[string]any
	}{
		{claudecode.Info, "anthropic", func(u string) map[string]any { return map[string]any{"key": "sk-fake", "baseUrl": u} }},
		{codex.Info, "custom-local", func(u string) map[string]any { return map[string]any{"key": "sk-fake", "baseUrl": u + "/v1"} }},
		{opencode.Info, "custom-local", func(u string) map[string]any {
			return map[string]any{"key": "sk-fake", "baseUrl": u + "/v1", "models": []string{"m"}}
		}},
	} {
		t.Run(c.info.ID, func(t *testing.T) {
			agenttest.CLI(t, c.info)
			model := fakemodel.Start()
			t.Cleanup(model.Close)
			s := startServer(t, store.SQLite, "local", func(cfg *app.Config) {
				cfg.AgentsDir = agenttest.CacheDir(t)
				cfg.AgentsAllowRoot = true
			})
			s.mustJSON("PUT", "/api/auth/me/credentials/"+c.credential, s.token, c.body(model.URL), 200, nil)
			id := s.createSession(map[string]any{"workspace": "w", "agent": c.info.ID}).Session.ID
			s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "remember MARKER-ONE"}, 200, nil)
			waitAgentTurns(t, s, id, 1)
			first := agentSessionID(t, s, id)
			if first == "" {
				t.Fatal("no agentSessionId after the first turn")
			}
			// The first prompt of a fresh session goes as it is.
			if reqs := model.RequestsWith("MARKER-ONE"); len(reqs) == 0 || strings.Contains(strings.Join(reqs[0].Prompts, "|"), "agentops system note") {
				t.Fatalf("first request: %+v", reqs)
			}

			s.mustJSON("POST", "/api/sessions/"+id+"/hibernate", s.token, nil, 200, nil)
			eventually.True(t, 30*time.Second, "hibernated", func() bool { return s.sessionStatus(id) == "hibernated" })
			state := filepath.Join(s.cfg.AgentStateDir(), id)
			if _, err := os.Stat(state); err != nil {
				t.Fatalf("agent state dir: %v", err)
			}
			if err := os.RemoveAll(state); err != nil {
				t.Fatal(err)
			}

			s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "RECALL"}, 200, nil)
			msgs := waitAgentTurns(t, s, id, 2)
			reqs := model.RequestsWith("RECALL")
			if len(reqs) == 0 {
				t.Fatal("no model request for the second turn")
			}
			sent := strings.Join(reqs[0].Prompts, "|")
			if !strings.Contains(sent, "MARKER-ONE") || !strings.Contains(sent, "agentops system note") {
				t.Fatalf("the request after the state was lost lacks the earlier turn or the note: %q", sent)
			}
			if !strings.Contains(msgs[3].Content, "MARKER-ONE") {
				t.Fatalf("the reply does not see the earlier turn: %q", msgs[3].Content)
			}
			if second := agentSessionID(t, s, id); second == "" || second == first {
				t.Fatalf("agentSessionId %q after the state was lost (was %q): want a new agent session", second, first)
			}
		})
	}
}

func agentSessionID(t *testing.T, s *server, id string) string {
	t.Helper()
	var got struct{ Session map[string]any }
	s.mustJSON("GET", "/api/sessions/"+id, s.token, nil, 200, &got)
	v, _ := got.Session["agentSessionId"].(string)
	return v
}

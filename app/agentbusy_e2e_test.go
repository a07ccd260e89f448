package app_test

import (
	"fmt"
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

// realAgents are the CLIs with how to give each a credential on the
// scripted model.
var realAgents = []struct {
	info       agent.Info
	credential string
	body       func(url string) map[string]any
}{
	{claudecode.Info, "anthropic", func(u string) map[string]any { return map[string]any{"key": "sk-fake", "baseUrl": u} }},
	{codex.Info, "custom-local", func(u string) map[string]any { return map[string]any{"key": "sk-fake", "baseUrl": u + "/v1"} }},
	{opencode.Info, "custom-local", func(u string) map[string]any {
		return map[string]any{"key": "sk-fake", "baseUrl": u + "/v1", "models": []string{"m"}}
	}},
}

// TestRealAgentBusyQueueModesAndAbortInTool: with each real CLI, prompts
// sent while it works keep the queue modes (a followup takes the one
// pending slot, the newest wins; a steer aborts the turn and goes first),
// and an abort while the agent's tool runs (a shell `sleep 60`) ends the
// turn within seconds; the next prompt works and sees the history.
func TestRealAgentBusyQueueModesAndAbortInTool(t *testing.T) {
	for _, c := range realAgents {
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
			prompt := func(content, mode string) {
				t.Helper()
				body := map[string]any{"content": content}
				if mode != "" {
					body["queueMode"] = mode
				}
				s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, body, 200, nil)
			}

			// Busy: the model streams slowly for 30 s.
			prompt("SLOW", "")
			eventually.True(t, 60*time.Second, "the CLI to call the model", func() bool { return len(model.RequestsWith("SLOW")) > 0 })
			prompt("followup ONE", "")
			prompt("followup TWO", "") // takes the pending slot: ONE is withdrawn
			steered := time.Now()
			prompt("steer THREE", "steer")
			// The SLOW turn may end before its first text (then it leaves
			// no assistant message) or with a canceled one.
			msgs := s.waitFinished(id, "followup TWO")
			got := []string{}
			for i, m := range msgs {
				if m.Role == "user" {
					got = append(got, m.Content)
				} else if i > 0 && msgs[i-1].Content == "SLOW" {
					if r := partsOfType(m, "finish"); len(r) != 1 || r[0]["reason"] != "canceled" {
						t.Fatalf("the steered turn: %+v", m.Parts)
					}
				}
			}
			if strings.Join(got, "|") != "SLOW|steer THREE|followup TWO" {
				t.Fatalf("user prompts in order %q, want SLOW, the steer, then the newest followup", got)
			}
			// (OpenCode stops its server on an abort and starts it again for
			// the next prompt: seconds, more on a loaded machine.)
			t.Logf("the steer and the followup ran within %s", time.Since(steered).Round(time.Millisecond))

			// Abort while a tool runs.
			prompt("SLEEPTOOL", "")
			eventually.True(t, 60*time.Second, "the tool to run", func() bool {
				m := s.messages(id)
				last := m[len(m)-1]
				for _, p := range partsOfType(last, "tool-call") {
					if p["status"] == "running" || p["status"] == "pending" {
						return true
					}
				}
				return false
			})
			aborted := time.Now()
			s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"interrupt": true}, 200, nil)
			msgs = s.waitFinished(id, "SLEEPTOOL")
			if d := time.Since(aborted); d > 15*time.Second {
				t.Errorf("abort in a tool call took %s", d)
			}
			if r := partsOfType(msgs[len(msgs)-1], "finish"); len(r) != 1 || r[0]["reason"] != "canceled" {
				t.Fatalf("the aborted turn: %+v", msgs[len(msgs)-1].Parts)
			}
			prompt("RECALL", "")
			msgs = s.waitFinished(id, "RECALL")
			if last := msgs[len(msgs)-1].Content; !strings.Contains(last, "followup TWO") {
				t.Fatalf("after the abort the next turn does not see the history: %q", last)
			}
		})
	}
}

// waitFinished waits until the transcript ends with the user prompt
// content and a finished assistant reply to it, and returns it.
func (s *server) waitFinished(id, content string) []message {
	s.t.Helper()
	var msgs []message
	eventually.NoError(s.t, 90*time.Second, "a finished reply to "+content, func() error {
		msgs = s.messages(id)
		n := len(msgs)
		if n >= 2 && msgs[n-2].Role == "user" && msgs[n-2].Content == content &&
			msgs[n-1].Role == "assistant" && len(partsOfType(msgs[n-1], "finish")) == 1 {
			return nil
		}
		return fmt.Errorf("transcript: %+v", msgs)
	})
	return msgs
}

package app_test

import (
	"encoding/json"
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
	"github.com/agentops/agentops/app/runner/tools"
	"github.com/agentops/agentops/internal/testutil/fakemodel"
	"github.com/agentops/agentops/store"
)

// Each real agent CLI is configured with `agentops runner mcp`: the
// scripted model's requests offer it the six tools under the CLI's own
// prefix or namespace, a memory_write the model calls lands in the
// owner's memory (read back over REST), a memory_read returns it, and an
// ask_user question shows on a browser socket as an interactive_prompt
// whose answer becomes the tool's result; an unanswered one expires into
// a clear "no answer" result.
func TestAgentToolsOverMCP(t *testing.T) {
	cases := []struct {
		info   agent.Info
		cred   string
		body   map[string]any
		prefix string // how the CLI names the server's tools
	}{
		{claudecode.Info, "anthropic", nil, "mcp__agentops__"},
		{codex.Info, "custom-local", map[string]any{"models": []string{"gpt-5-codex"}}, "mcp__agentops__"},
		{opencode.Info, "custom-local", map[string]any{"models": []string{"m"}}, "agentops_"},
	}
	for _, c := range cases {
		t.Run(c.info.ID, func(t *testing.T) {
			agenttest.CLI(t, c.info)
			model := fakemodel.Start()
			t.Cleanup(model.Close)
			s := startServer(t, store.SQLite, "local", func(cfg *app.Config) {
				cfg.AgentsDir = agenttest.CacheDir(t)
				cfg.AgentsAllowRoot = true
				cfg.SessionTimings.QuestionTTL = 20 * time.Second
			})
			cred := map[string]any{"key": "sk-fake", "baseUrl": model.URL}
			if c.cred != "anthropic" {
				cred["baseUrl"] = model.URL + "/v1"
			}
			for k, v := range c.body {
				cred[k] = v
			}
			s.mustJSON("PUT", "/api/auth/me/credentials/"+c.cred, s.token, cred, 200, nil)
			id := s.createSession(map[string]any{"workspace": "w", "agent": c.info.ID}).Session.ID

			content := fmt.Sprintf("notes from %s", c.info.ID)
			args, _ := json.Marshal(map[string]string{"path": "agents/" + c.info.ID + ".md", "content": content})
			s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "CALL memory_write " + string(args)}, 200, nil)
			msgs := waitAgentTurns(t, s, id, 1)

			// The model was offered every tool.
			reqs := model.RequestsWith("CALL memory_write")
			if len(reqs) == 0 {
				t.Fatal("no model request for the prompt")
			}
			offered := strings.Join(reqs[0].Tools, ",")
			for _, sp := range tools.Specs {
				if !strings.Contains(","+offered+",", ","+c.prefix+sp.Name+",") {
					t.Errorf("%s not offered; tools: %s", c.prefix+sp.Name, offered)
				}
			}
			calls := partsOfType(msgs[1], "tool-call")
			if len(calls) != 1 {
				for _, r := range model.Requests() {
					t.Logf("REQ %s", r.Body)
				}
			}
			if len(calls) != 1 || calls[0]["status"] != "completed" || !strings.Contains(fmt.Sprint(calls[0]["toolName"]), "memory_write") {
				t.Fatalf("tool calls: %+v", msgs[1].Parts)
			}
			// The owner's memory really changed.
			var got struct {
				File map[string]any `json:"file"`
			}
			s.mustJSON("GET", "/api/me/memory?path=agents/"+c.info.ID+".md", s.token, nil, 200, &got)
			if got.File == nil || got.File["content"] != content {
				t.Fatalf("memory after memory_write: %+v", got.File)
			}

			// ask_user round-trips through a browser socket.
			b := s.dial(id, s.token)
			b.waitReady()
			s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token,
				map[string]any{"content": `CALL ask_user {"question":"Which color?","options":["red","blue"]}`}, 200, nil)
			ip := b.waitFor("interactive_prompt", typ("interactive_prompt"))
			p := ip["prompt"].(map[string]any)
			if p["title"] != "Which color?" {
				t.Fatalf("prompt %+v", p)
			}
			b.send(map[string]any{"type": "answer", "questionId": p["id"], "answer": "option_1"})
			b.waitFor("resolved", typ("interactive_prompt_resolved"))
			msgs = waitAgentTurns(t, s, id, 2)
			calls = partsOfType(msgs[3], "tool-call")
			if len(calls) != 1 || calls[0]["status"] != "completed" || !strings.Contains(fmt.Sprint(calls[0]["result"]), "blue") {
				t.Fatalf("ask_user call: %+v", msgs[3].Parts)
			}
			if c.info.ID != claudecode.Info.ID {
				return
			}
			// Nobody answers: the tool's result says so, the turn goes on.
			s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token,
				map[string]any{"content": `CALL ask_user {"question":"Anyone?"}`}, 200, nil)
			b.waitFor("expired", typ("interactive_prompt_expired"))
			msgs = waitAgentTurns(t, s, id, 3)
			calls = partsOfType(msgs[5], "tool-call")
			if len(calls) != 1 || !strings.Contains(fmt.Sprint(calls[0]["result"]), "No answer") {
				t.Fatalf("expired ask_user call: %+v", msgs[5].Parts)
			}
		})
	}
}

package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/app/runner/agent/agenttest"
	"github.com/agentops/agentops/app/runner/agent/claudecode"
	"github.com/agentops/agentops/app/runner/agent/codex"
	"github.com/agentops/agentops/app/runner/agent/opencode"
	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/internal/testutil/fakemodel"
	"github.com/agentops/agentops/store"
)

type agentStatus struct {
	ID                string `json:"id"`
	Installed         *bool  `json:"installed"`
	Version           string `json:"version"`
	Usable            bool   `json:"usable"`
	MissingCredential string `json:"missingCredential"`
}

func findAgent(t *testing.T, list []agentStatus, id string) agentStatus {
	t.Helper()
	for _, a := range list {
		if a.ID == id {
			return a
		}
	}
	t.Fatalf("agent %s not listed: %+v", id, list)
	return agentStatus{}
}

// A person with an Anthropic credential (here: the scripted model's base
// URL) picks claude-code; the real CLI writes a file through its own tool,
// the transcript shows the call, the final text and usage; the next
// prompt's model request carries the first turn, also after a hibernate
// and wake started a new runner and CLI process.
func TestClaudeCodeSession(t *testing.T) {
	agenttest.CLI(t, claudecode.Info)
	model := fakemodel.Start()
	t.Cleanup(model.Close)
	s := startServer(t, store.SQLite, "local", func(c *app.Config) {
		c.AgentsDir = agenttest.CacheDir(t)
		c.AgentsAllowRoot = true
	})

	// No credential yet: listed as installed but not usable; create is 400.
	var avail struct{ Agents []agentStatus }
	s.mustJSON("GET", "/api/sessions/available-models", s.token, nil, 200, &avail)
	cc := findAgent(t, avail.Agents, "claude-code")
	if cc.Installed == nil || !*cc.Installed || cc.Version != claudecode.Info.Version || cc.Usable || cc.MissingCredential != "anthropic" {
		t.Fatalf("claude-code before a credential: %+v", cc)
	}
	if sc := findAgent(t, avail.Agents, "script"); !sc.Usable {
		t.Fatalf("script: %+v", sc)
	}
	code, raw := s.call("POST", "/api/sessions", s.token, map[string]any{"workspace": "w", "agent": "claude-code"})
	if code != 400 || !strings.Contains(string(raw), "claude-code") || !strings.Contains(string(raw), "anthropic") {
		t.Fatalf("create without a credential: %d %s", code, raw)
	}
	code, raw = s.call("POST", "/api/sessions", s.token, map[string]any{"workspace": "w", "agent": "nope"})
	if code != 400 || !strings.Contains(string(raw), "nope") {
		t.Fatalf("create with an unknown agent: %d %s", code, raw)
	}

	s.mustJSON("PUT", "/api/auth/me/credentials/anthropic", s.token, map[string]any{"key": "sk-fake", "baseUrl": model.URL}, 200, nil)
	var withKey struct {
		Models []struct{ Provider string }
		Agents []agentStatus
	}
	s.mustJSON("GET", "/api/sessions/available-models", s.token, nil, 200, &withKey)
	if cc := findAgent(t, withKey.Agents, "claude-code"); !cc.Usable {
		t.Fatalf("claude-code with a credential: %+v", cc)
	}
	if len(withKey.Models) < 2 || withKey.Models[0].Provider != "anthropic" {
		t.Fatalf("models with an anthropic key: %+v", withKey.Models)
	}

	// With no agent named and no --default-agent, the first installed and
	// usable one is picked.
	created := s.createSession(map[string]any{"workspace": "w"})
	if created.Session.Agent != "claude-code" {
		t.Fatalf("default agent %q", created.Session.Agent)
	}
	id := created.Session.ID
	ws := filepath.Join(s.cfg.DataDir, "workspaces", id)
	target := filepath.Join(ws, "hello.txt")
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "WRITE " + target + " hi"}, 200, nil)
	msgs := waitAgentTurns(t, s, id, 1)
	a := msgs[1]
	if calls := partsOfType(a, "tool-call"); len(calls) != 1 || calls[0]["toolName"] != "Write" || calls[0]["status"] != "completed" {
		t.Fatalf("tool calls: %+v", a.Parts)
	}
	if !strings.Contains(a.Content, "done") {
		t.Fatalf("final text %q", a.Content)
	}
	if data, err := os.ReadFile(target); err != nil || string(data) != "hi" {
		t.Fatalf("hello.txt: %q %v", data, err)
	}
	var raws []map[string]json.RawMessage
	s.mustJSON("GET", "/api/sessions/"+id+"/messages", s.token, nil, 200, &struct {
		Messages *[]map[string]json.RawMessage `json:"messages"`
	}{&raws})
	var usage struct{ InputTokens, OutputTokens int64 }
	if err := json.Unmarshal(raws[1]["usage"], &usage); err != nil || usage.InputTokens == 0 || usage.OutputTokens == 0 {
		t.Fatalf("usage on the assistant message: %s (%v)", raws[1]["usage"], err)
	}
	// The agent's state is outside the workspace.
	if _, err := os.Stat(filepath.Join(ws, ".claude")); err == nil {
		t.Fatal("the agent's state is in the workspace")
	}

	// The prompt's model picks the CLI's model (provider/model accepted).
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "RECALL one", "model": "anthropic/claude-haiku-4-5"}, 200, nil)
	msgs = waitAgentTurns(t, s, id, 2)
	if reqs := model.RequestsWith("RECALL one"); len(reqs) == 0 || !strings.Contains(string(reqs[0].Body), `"model":"claude-haiku-4-5"`) {
		t.Fatalf("the model request does not use the prompt's model")
	}
	if !strings.Contains(msgs[3].Content, "WRITE") {
		t.Fatalf("the second turn does not see the first: %+v", msgs)
	}
	before := sandboxID(t, s, id)

	var st struct{ Status string }
	s.mustJSON("POST", "/api/sessions/"+id+"/hibernate", s.token, nil, 200, &st)
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "RECALL two"}, 200, nil)
	msgs = waitAgentTurns(t, s, id, 3)
	if !strings.Contains(msgs[5].Content, "WRITE") || !strings.Contains(msgs[5].Content, "RECALL one") {
		t.Fatalf("after hibernate and wake the turn does not see the history: %q", msgs[5].Content)
	}
	if after := sandboxID(t, s, id); after == before {
		t.Fatalf("no new runner after wake (%s)", after)
	}
	reqs := model.RequestsWith("RECALL two")
	if len(reqs) == 0 || !strings.Contains(strings.Join(reqs[0].Prompts, "|"), "WRITE") {
		t.Fatalf("the model request after wake lacks the history: %+v", reqs)
	}
}

// waitAgentTurns waits for n finished assistant turns (user, assistant
// pairs) and returns the transcript.
func waitAgentTurns(t *testing.T, s *server, id string, n int) []message {
	t.Helper()
	var msgs []message
	eventually.NoError(t, 90*time.Second, fmt.Sprintf("%d agent turns", n), func() error {
		msgs = s.messages(id)
		done := 0
		for _, m := range msgs {
			if m.Role == "assistant" && len(partsOfType(m, "finish")) == 1 {
				done++
			}
		}
		if done >= n && len(msgs) >= 2*n {
			return nil
		}
		return fmt.Errorf("transcript: %+v", msgs)
	})
	return msgs
}

func sandboxID(t *testing.T, s *server, id string) string {
	var got struct{ Session map[string]any }
	s.mustJSON("GET", "/api/sessions/"+id, s.token, nil, 200, &got)
	v, _ := got.Session["sandboxId"].(string)
	return v
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// With open sign-up, local runners (which run with the server's rights)
// get a warning at start.
func TestServeWarnsAboutSharedLocalRunners(t *testing.T) {
	for _, open := range []bool{false, true} {
		cfg := newConfig(t, store.SQLite)
		cfg.Listen = freeAddr(t)
		cfg.PublicURL, cfg.AllowedOrigins = "", nil
		cfg.OpenSignup = open
		cfg.StopRunnersOnShutdown = true
		if err := cfg.Resolve(); err != nil {
			t.Fatal(err)
		}
		var logs syncBuffer
		a, err := app.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Serve(ctx) }()
		eventually.True(t, 15*time.Second, "the server to listen", func() bool { return strings.Contains(logs.String(), "listening") })
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		a.Close()
		if warned := strings.Contains(logs.String(), "local runners run agents with the server's own rights"); warned != open {
			t.Errorf("open sign-up %v: warned %v", open, warned)
		}
	}
}

// Codex with a custom OpenAI-compatible credential (the scripted model on
// the Responses API): the file is written through Codex's shell tool, and
// the thread resumes after a hibernate and wake.
func TestCodexSession(t *testing.T) {
	agenttest.CLI(t, codex.Info)
	model := fakemodel.Start()
	t.Cleanup(model.Close)
	s := startServer(t, store.SQLite, "local", func(c *app.Config) { c.AgentsDir = agenttest.CacheDir(t) })
	s.mustJSON("PUT", "/api/auth/me/credentials/custom-local", s.token,
		map[string]any{"key": "sk-fake", "baseUrl": model.URL + "/v1", "models": []string{"gpt-5-codex"}}, 200, nil)
	var avail struct{ Agents []agentStatus }
	s.mustJSON("GET", "/api/sessions/available-models", s.token, nil, 200, &avail)
	if cx := findAgent(t, avail.Agents, "codex"); !cx.Usable || cx.Version != codex.Info.Version {
		t.Fatalf("codex: %+v", cx)
	}
	if cc := findAgent(t, avail.Agents, "claude-code"); cc.Usable {
		t.Fatalf("claude-code usable without an anthropic key: %+v", cc)
	}
	id := s.createSession(map[string]any{"workspace": "w", "agent": "codex"}).Session.ID
	target := filepath.Join(s.cfg.DataDir, "workspaces", id, "hello.txt")
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "WRITE " + target + " hi"}, 200, nil)
	msgs := waitAgentTurns(t, s, id, 1)
	if calls := partsOfType(msgs[1], "tool-call"); len(calls) != 1 || calls[0]["toolName"] != "shell" || calls[0]["status"] != "completed" {
		t.Fatalf("tool calls: %+v", msgs[1].Parts)
	}
	if data, err := os.ReadFile(target); err != nil || string(data) != "hi" {
		t.Fatalf("hello.txt: %q %v", data, err)
	}
	before := sandboxID(t, s, id)
	s.mustJSON("POST", "/api/sessions/"+id+"/hibernate", s.token, nil, 200, nil)
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "RECALL"}, 200, nil)
	msgs = waitAgentTurns(t, s, id, 2)
	if !strings.Contains(msgs[3].Content, "WRITE") {
		t.Fatalf("after hibernate and wake the turn does not see the first: %q", msgs[3].Content)
	}
	if sandboxID(t, s, id) == before {
		t.Fatal("no new runner after wake")
	}
	for _, r := range model.Requests() {
		if r.Header.Get("Authorization") != "Bearer sk-fake" {
			t.Fatalf("model request authorization %q", r.Header.Get("Authorization"))
		}
	}
}

// OpenCode with a custom OpenAI-compatible credential (the scripted model
// on Chat Completions): the file is written through its write tool, and
// the session resumes after a hibernate and wake.
func TestOpenCodeSession(t *testing.T) {
	agenttest.CLI(t, opencode.Info)
	model := fakemodel.Start()
	t.Cleanup(model.Close)
	s := startServer(t, store.SQLite, "local", func(c *app.Config) { c.AgentsDir = agenttest.CacheDir(t) })
	s.mustJSON("PUT", "/api/auth/me/credentials/custom-local", s.token,
		map[string]any{"key": "sk-fake", "baseUrl": model.URL + "/v1", "models": []string{"m"}}, 200, nil)
	id := s.createSession(map[string]any{"workspace": "w", "agent": "opencode"}).Session.ID
	target := filepath.Join(s.cfg.DataDir, "workspaces", id, "hello.txt")
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "WRITE " + target + " hi"}, 200, nil)
	msgs := waitAgentTurns(t, s, id, 1)
	if calls := partsOfType(msgs[1], "tool-call"); len(calls) != 1 || calls[0]["toolName"] != "write" || calls[0]["status"] != "completed" {
		t.Fatalf("tool calls: %+v", msgs[1].Parts)
	}
	if data, err := os.ReadFile(target); err != nil || string(data) != "hi" {
		t.Fatalf("hello.txt: %q %v", data, err)
	}
	before := sandboxID(t, s, id)
	s.mustJSON("POST", "/api/sessions/"+id+"/hibernate", s.token, nil, 200, nil)
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "RECALL"}, 200, nil)
	msgs = waitAgentTurns(t, s, id, 2)
	if !strings.Contains(msgs[3].Content, "WRITE") {
		t.Fatalf("after hibernate and wake the turn does not see the first: %q", msgs[3].Content)
	}
	if sandboxID(t, s, id) == before {
		t.Fatal("no new runner after wake")
	}
}

package app_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/app/runner/agent"
	"github.com/agentops/agentops/app/runner/agent/agenttest"
	"github.com/agentops/agentops/app/runner/agent/claudecode"
	"github.com/agentops/agentops/app/runner/agent/codex"
	"github.com/agentops/agentops/app/runner/agent/opencode"
	"github.com/agentops/agentops/app/runner/tools"
	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/internal/testutil/fakemodel"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
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

// permissionMode ask with Claude Code (its permission-prompt tool) and
// OpenCode (its permission events): each edit waits for an approval (an
// interactive_prompt of type approval with the diff, listed by
// /api/action-invocations/pending); a denial leaves the file untouched
// and the turn ends; an approval over REST lets the edit happen; an
// answer to an answered one is 409, to an unknown one 404; nobody
// answering denies it at expiry; PATCH to auto stops the asking. Codex
// refuses ask.
func TestApprovals(t *testing.T) {
	for _, c := range []struct {
		info agent.Info
		tool string
	}{{claudecode.Info, "Write"}, {opencode.Info, "edit"}} {
		t.Run(c.info.ID, func(t *testing.T) { approvalsCase(t, c.info, c.tool) })
	}
}

func approvalsCase(t *testing.T, info agent.Info, toolName string) {
	agenttest.CLI(t, info)
	model := fakemodel.Start()
	t.Cleanup(model.Close)
	s := startServer(t, store.SQLite, "local", func(cfg *app.Config) {
		cfg.AgentsDir = agenttest.CacheDir(t)
		cfg.AgentsAllowRoot = true
		cfg.SessionTimings.ApprovalTTL = 15 * time.Second
	})
	if info.ID == claudecode.Info.ID { // OpenCode would prefer it too
		s.mustJSON("PUT", "/api/auth/me/credentials/anthropic", s.token, map[string]any{"key": "sk-fake", "baseUrl": model.URL}, 200, nil)
	}
	models := []string{"gpt-5-codex"}
	if info.ID == opencode.Info.ID {
		models = []string{"m"}
	}
	s.mustJSON("PUT", "/api/auth/me/credentials/custom-local", s.token,
		map[string]any{"key": "sk-fake", "baseUrl": model.URL + "/v1", "models": models}, 200, nil)
	if info.ID == claudecode.Info.ID {
		code, raw := s.call("POST", "/api/sessions", s.token, map[string]any{"workspace": "w", "agent": "codex", "permissionMode": "ask"})
		if code != 400 || !strings.Contains(string(raw), "codex") {
			t.Fatalf("codex with ask: %d %s", code, raw)
		}
		code, raw = s.call("POST", "/api/sessions", s.token, map[string]any{"workspace": "w", "agent": "claude-code", "permissionMode": "sometimes"})
		if code != 400 || !strings.Contains(string(raw), "permissionMode") {
			t.Fatalf("bad mode: %d %s", code, raw)
		}
	}
	created := s.createSession(map[string]any{"workspace": "w", "agent": info.ID, "permissionMode": "ask"})
	id := created.Session.ID
	var got struct{ Session map[string]any }
	s.mustJSON("GET", "/api/sessions/"+id, s.token, nil, 200, &got)
	if got.Session["permissionMode"] != "ask" {
		t.Fatalf("session %+v", got.Session)
	}
	b := s.dial(id, s.token)
	b.waitReady()
	target := filepath.Join(s.cfg.DataDir, "workspaces", id, "hello.txt")
	evs := s.events(s.url, s.token, "")
	t.Cleanup(evs.cancel)

	// Denied from the browser socket: the file stays absent.
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "WRITE " + target + " hi"}, 200, nil)
	ip := b.waitFor("approval prompt", typ("interactive_prompt"))
	p := ip["prompt"].(map[string]any)
	ctx := p["context"].(map[string]any)
	if p["type"] != "approval" || ctx["toolName"] != toolName || !strings.Contains(fmt.Sprint(ctx["diff"]), "+hi") || ctx["status"] != "pending" {
		t.Fatalf("approval prompt %+v", p)
	}
	var pending struct{ Invocations []map[string]any }
	s.mustJSON("GET", "/api/action-invocations/pending", s.token, nil, 200, &pending)
	if len(pending.Invocations) != 1 || pending.Invocations[0]["id"] != p["id"] {
		t.Fatalf("pending %+v", pending)
	}
	if ev, _ := evs.waitFor("action.approval_required", nil); fmt.Sprint(ev["data"]) == "" || !strings.Contains(fmt.Sprint(ev), p["id"].(string)) {
		t.Fatalf("action.approval_required %v", ev)
	}
	b.send(map[string]any{"type": "deny-action", "invocationId": p["id"], "reason": "not now"})
	res := b.waitFor("resolved", typ("interactive_prompt_resolved"))
	if res["resolution"] != "deny" {
		t.Fatalf("resolved %+v", res)
	}
	if ev, _ := evs.waitFor("action.denied", nil); !strings.Contains(fmt.Sprint(ev), "not now") {
		t.Fatalf("action.denied %v", ev)
	}
	waitAgentTurns(t, s, id, 1)
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatalf("the denied write happened: %v", err)
	}
	var inv struct{ Invocation map[string]any }
	s.mustJSON("GET", "/api/action-invocations/"+p["id"].(string), s.token, nil, 200, &inv)
	if inv.Invocation["status"] != "denied" || inv.Invocation["reason"] != "not now" || inv.Invocation["resolvedBy"] == nil {
		t.Fatalf("denied invocation %+v", inv.Invocation)
	}
	// Answering it again is 409; an unknown one 404.
	if code, raw := s.call("POST", "/api/action-invocations/"+p["id"].(string)+"/approve", s.token, nil); code != 409 {
		t.Fatalf("approve a denied one: %d %s", code, raw)
	}
	if code, raw := s.call("POST", "/api/action-invocations/inv_nope/deny", s.token, map[string]any{"reason": "x"}); code != 404 {
		t.Fatalf("deny an unknown one: %d %s", code, raw)
	}

	// Approved over REST: the file is written.
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "WRITE " + target + " hi"}, 200, nil)
	ip = b.waitFor("approval prompt", typ("interactive_prompt"))
	p = ip["prompt"].(map[string]any)
	s.mustJSON("POST", "/api/action-invocations/"+p["id"].(string)+"/approve", s.token, nil, 200, &inv)
	if inv.Invocation["status"] != "approved" {
		t.Fatalf("approved %+v", inv.Invocation)
	}
	waitAgentTurns(t, s, id, 2)
	if data, err := os.ReadFile(target); err != nil || string(data) != "hi" {
		t.Fatalf("hello.txt after approval: %q %v", data, err)
	}

	// Nobody answers: denied at expiry.
	other := filepath.Join(s.cfg.DataDir, "workspaces", id, "other.txt")
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "WRITE " + other + " x"}, 200, nil)
	ip = b.waitFor("approval prompt", typ("interactive_prompt"))
	p = ip["prompt"].(map[string]any)
	b.waitFor("expired", typ("interactive_prompt_expired"))
	waitAgentTurns(t, s, id, 3)
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Fatalf("the expired write happened: %v", err)
	}
	s.mustJSON("GET", "/api/action-invocations/"+p["id"].(string), s.token, nil, 200, &inv)
	if inv.Invocation["status"] != "expired" {
		t.Fatalf("expired invocation %+v", inv.Invocation)
	}
	var all struct {
		Invocations []map[string]any
		HasMore     bool
	}
	s.mustJSON("GET", "/api/action-invocations?limit=2", s.token, nil, 200, &all)
	if len(all.Invocations) != 2 || !all.HasMore || all.Invocations[0]["id"] != p["id"] {
		t.Fatalf("list %+v", all)
	}
	// Switching to auto: the next edit does not ask.
	s.mustJSON("PATCH", "/api/sessions/"+id, s.token, map[string]any{"permissionMode": "auto"}, 200, nil)
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "WRITE " + other + " y"}, 200, nil)
	waitAgentTurns(t, s, id, 4)
	if data, err := os.ReadFile(other); err != nil || string(data) != "y" {
		t.Fatalf("other.txt in auto: %q %v", data, err)
	}
	if code, raw := s.call("PATCH", "/api/sessions/"+id, s.token, map[string]any{"permissionMode": "never"}); code != 400 {
		t.Fatalf("PATCH a bad mode: %d %s", code, raw)
	}
}

// An approval survives a kill -9 of the server: it was stored before it
// was shown, is still pending after the restart, and answering it then
// lets the (still running) agent's edit happen.
func TestApprovalSurvivesServerRestart(t *testing.T) {
	agenttest.CLI(t, claudecode.Info)
	model := fakemodel.Start()
	t.Cleanup(model.Close)
	dataDir := t.TempDir()
	// Runs after the server and its runners are killed: the agent CLIs
	// and MCP servers they started (own process groups) go too.
	t.Cleanup(func() { killProcessesIn(dataDir) })
	p := startProc(t, dataDir, storetest.URL(t, store.SQLite))
	p.args = append(p.args, "--agents-dir", agenttest.CacheDir(t), "--agents-allow-root")
	p.kill()
	p.start()
	s := &server{t: t, url: "http://" + p.addr}
	var reg struct{ SessionToken string }
	s.mustJSON("POST", "/auth/email/register", "", map[string]any{"email": "owner@example.com", "password": "a long passphrase"}, 200, &reg)
	s.token = reg.SessionToken
	s.mustJSON("PUT", "/api/auth/me/credentials/anthropic", s.token, map[string]any{"key": "sk-fake", "baseUrl": model.URL}, 200, nil)
	id := s.createSession(map[string]any{"workspace": "w", "agent": "claude-code", "permissionMode": "ask"}).Session.ID
	target := filepath.Join(dataDir, "workspaces", id, "hello.txt")
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "WRITE " + target + " hi"}, 200, nil)
	var pending struct{ Invocations []map[string]any }
	eventually.NoError(t, 60*time.Second, "a pending approval", func() error {
		s.mustJSON("GET", "/api/action-invocations/pending", s.token, nil, 200, &pending)
		if len(pending.Invocations) != 1 {
			return fmt.Errorf("pending %+v", pending.Invocations)
		}
		return nil
	})
	invID := pending.Invocations[0]["id"].(string)
	// The owner's inbox has an approval notification for it.
	var inbox struct{ Messages []map[string]any }
	s.mustJSON("GET", "/api/me/notifications?messageType=approval", s.token, nil, 200, &inbox)
	if len(inbox.Messages) != 1 || !strings.Contains(fmt.Sprint(inbox.Messages[0]["content"]), "Write") {
		t.Fatalf("approval notifications %+v", inbox.Messages)
	}

	p.kill()
	p.start()
	s.mustJSON("GET", "/api/action-invocations/pending", s.token, nil, 200, &pending)
	if len(pending.Invocations) != 1 || pending.Invocations[0]["id"] != invID {
		t.Fatalf("pending after the restart %+v", pending.Invocations)
	}
	// A browser that connects now is shown it.
	b := s.dial(id, s.token)
	ip := b.waitFor("approval prompt", typ("interactive_prompt"))
	if ip["prompt"].(map[string]any)["id"] != invID {
		t.Fatalf("prompt %+v", ip)
	}
	// Another user cannot see or answer it.
	other := s.secondUser("other@example.com")
	if code, raw := s.call("POST", "/api/action-invocations/"+invID+"/approve", other, nil); code != 404 {
		t.Fatalf("another user's approve: %d %s", code, raw)
	}
	if code, _ := s.call("GET", "/api/action-invocations/"+invID, other, nil); code != 404 {
		t.Fatalf("another user's get: %d", code)
	}
	eventually.NoError(t, 60*time.Second, "the runner back and the approval answered", func() error {
		code, raw := s.call("POST", "/api/action-invocations/"+invID+"/approve", s.token, nil)
		if code != 200 {
			return fmt.Errorf("approve: %d %s", code, raw)
		}
		return nil
	})
	eventually.NoError(t, 60*time.Second, "the approved write", func() error {
		data, err := os.ReadFile(target)
		if err != nil || string(data) != "hi" {
			return fmt.Errorf("hello.txt %q %v", data, err)
		}
		return nil
	})
}

// killProcessesIn kills (SIGKILL) the processes whose working directory
// or command line is under dir, and waits until none is left.
func killProcessesIn(dir string) {
	find := func() []int {
		var pids []int
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			var pid int
			if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == os.Getpid() {
				continue
			}
			cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
			cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if strings.HasPrefix(cwd, dir) || strings.Contains(string(cmd), dir) {
				pids = append(pids, pid)
			}
		}
		return pids
	}
	for range 50 {
		pids := find()
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

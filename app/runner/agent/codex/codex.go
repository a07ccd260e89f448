// Package codex drives OpenAI's Codex CLI: one `codex exec --json` process
// per turn, resuming the session's thread id, against a model provider on
// the Responses API that the adapter writes into its own CODEX_HOME
// (reference/agent-clis.md, "Codex"). Codex prints whole messages, not
// deltas.
package codex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner/agent"
	"github.com/agentops/agentops/app/runner/agent/cli"
)

// Info describes the adapter.
var Info = agent.Info{
	ID: "codex", Name: "Codex",
	Package: "@openai/codex", Version: "0.171.0", Bin: "codex",
	Providers:     []string{"openai", "custom"},
	DefaultModels: map[string]string{"openai": "gpt-5-codex"},
	Deltas:        false, Resume: true, Usage: true,
}

// DefaultBaseURL is used when OPENAI_BASE_URL is not set.
const DefaultBaseURL = "https://api.openai.com/v1"

// Agent is the Codex adapter.
type Agent struct {
	opts agent.Options
	bin  string

	mu     sync.Mutex
	dirs   cli.Dirs
	thread string
	starts int
}

// Factory builds the adapter.
func Factory(o agent.Options) (agent.Agent, error) { return New(o) }

// New builds the adapter; nothing runs until a prompt.
func New(o agent.Options) (*Agent, error) {
	o.Deadlines = o.Deadlines.WithDefaults()
	bin := o.Bin
	if bin == "" {
		if in, err := agent.Locate(context.Background(), Info, o.AgentsDir, o.Env("PATH")); err == nil {
			bin = in.Path
		}
	}
	return &Agent{opts: o, bin: bin}, nil
}

func (a *Agent) Name() string { return Info.ID }

func (a *Agent) Models() []protocol.ModelGroup {
	return []protocol.ModelGroup{{Provider: "openai", Models: []protocol.Model{
		{ID: "openai/gpt-5-codex", Name: "GPT-5 Codex"},
		{ID: "openai/gpt-5", Name: "GPT-5"},
	}}}
}

// Answer: Codex asks nothing through the runner yet.
func (a *Agent) Answer(string, any) {}

// Starts reports how many CLI processes this agent started.
func (a *Agent) Starts() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.starts
}

// Close removes a temporary state dir; no process outlives a turn.
func (a *Agent) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dirs.Remove()
}

func modelName(m string) string {
	if i := strings.IndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	if m == "" {
		return Info.DefaultModels["openai"]
	}
	return m
}

// config is CODEX_HOME/config.toml: a provider on the Responses API (Codex
// ignores OPENAI_BASE_URL), no update checks, no analytics, few retries
// (the no-progress deadline covers a dead endpoint, which Codex retries
// forever).
func (a *Agent) config(model string) string {
	base := a.opts.Env("OPENAI_BASE_URL")
	if base == "" {
		base = DefaultBaseURL
	}
	q := strconv.Quote
	return "model = " + q(model) + "\n" +
		"model_provider = \"agentops\"\n" +
		"check_for_update_on_startup = false\n" +
		"[analytics]\nenabled = false\n" +
		"[model_providers.agentops]\n" +
		"name = \"agentops\"\n" +
		"base_url = " + q(base) + "\n" +
		"env_key = \"OPENAI_API_KEY\"\n" +
		"wire_api = \"responses\"\n" +
		"request_max_retries = 1\n" +
		"stream_max_retries = 1\n"
}

func (a *Agent) codexHome() string { return filepath.Join(a.dirs.Root, "codex") }

// rolloutExists reports whether Codex still has the thread's rollout.
func (a *Agent) rolloutExists(thread string) bool {
	found := false
	_ = filepath.WalkDir(filepath.Join(a.codexHome(), "sessions"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(d.Name(), thread) {
			found = true
			return fs.SkipAll
		}
		return nil
	})
	return found
}

func (a *Agent) Run(ctx context.Context, p agent.Prompt, out agent.Turn) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.bin == "" {
		return errors.New("codex is not installed (agentops agents install codex)")
	}
	if p.Workspace == "" {
		p.Workspace = a.opts.Workspace
	}
	if a.dirs.Root == "" {
		d, err := cli.MakeDirs(a.opts.StateDir, Info.ID)
		if err != nil {
			return err
		}
		a.dirs = d
	}
	if err := os.MkdirAll(a.codexHome(), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(a.codexHome(), "config.toml"), []byte(a.config(modelName(p.Model))), 0o600); err != nil {
		return err
	}
	if a.thread == "" {
		a.thread = p.AgentSessionID
	}
	content := p.Content
	if strings.HasPrefix(content, "-") {
		content = " " + content // not a flag
	}
	args := []string{"exec", "--json", "--skip-git-repo-check", "-s", "danger-full-access"}
	if a.thread != "" && a.rolloutExists(a.thread) {
		args = append(args, "resume", a.thread, content)
	} else {
		if a.thread != "" {
			a.opts.Log().Warn("codex has no rollout of the stored thread; starting a new one", "agent_session_id", a.thread)
		}
		a.thread = ""
		// A new thread: it gets the transcript so far.
		if seeded := agent.SeedPrompt(ctx, out, p, a.opts.Log()); seeded != p.Content {
			content = seeded
		}
		args = append(args, content)
	}
	env := cli.Env(a.opts, a.dirs)
	env = cli.Pass(env, a.opts, "OPENAI_API_KEY")
	env = append(env, "CODEX_HOME="+a.codexHome())

	ctx, wd := agent.StartWatchdog(ctx, a.opts.Deadlines)
	defer wd.Stop()
	proc, err := cli.Start(a.bin, args, p.Workspace, env, false, a.opts.Log())
	if err != nil {
		return err
	}
	a.starts++
	defer proc.Stop(a.opts.Deadlines.KillGrace)
	tr := &translator{out: out, wd: wd}
	for {
		select {
		case <-ctx.Done():
			proc.Stop(a.opts.Deadlines.KillGrace)
			return agent.CtxErr(ctx)
		case raw, ok := <-proc.Lines():
			if !ok {
				if tr.failure != "" {
					return errors.New(tr.failure)
				}
				if tr.completed {
					return nil
				}
				if tr.lastError != "" {
					return fmt.Errorf("codex ended the turn without finishing it: %s", tr.lastError)
				}
				return proc.ExitError("codex")
			}
			if err := tr.handle(raw); err != nil {
				return err
			}
			if tr.thread != "" && tr.thread != a.thread {
				a.thread = tr.thread
				if err := out.SetAgentSession(a.thread); err != nil {
					return err
				}
			}
		}
	}
}

// translator maps `codex exec --json` events to the Turn.
type translator struct {
	out       agent.Turn
	wd        *agent.Watchdog
	thread    string
	completed bool
	failure   string
	lastError string
}

type event struct {
	Type     string `json:"type"`
	ThreadID string `json:"thread_id"`
	Message  string `json:"message"`
	Item     struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		Text      string          `json:"text"`
		Message   string          `json:"message"`
		Command   string          `json:"command"`
		Output    string          `json:"aggregated_output"`
		ExitCode  *int            `json:"exit_code"`
		Status    string          `json:"status"`
		Server    string          `json:"server"`
		Tool      string          `json:"tool"`
		Arguments json.RawMessage `json:"arguments"`
		Result    json.RawMessage `json:"result"`
		Error     json.RawMessage `json:"error"`
		Changes   json.RawMessage `json:"changes"`
	} `json:"item"`
	Usage struct {
		InputTokens       int64 `json:"input_tokens"`
		CachedInputTokens int64 `json:"cached_input_tokens"`
		CacheWriteTokens  int64 `json:"cache_write_input_tokens"`
		OutputTokens      int64 `json:"output_tokens"`
	} `json:"usage"`
	Error struct {
		Message string `json:"message"`
	} `json:"error"`
}

func (t *translator) handle(raw json.RawMessage) error {
	var e event
	if json.Unmarshal(raw, &e) != nil {
		return nil
	}
	switch e.Type {
	case "thread.started":
		t.thread = e.ThreadID
	case "turn.started":
		t.wd.Progress()
	case "item.started", "item.updated", "item.completed":
		return t.item(e)
	case "turn.completed":
		t.wd.Progress()
		u := protocol.Usage{InputTokens: e.Usage.InputTokens, OutputTokens: e.Usage.OutputTokens}
		if e.Usage.CachedInputTokens > 0 {
			u.CacheReadTokens = &e.Usage.CachedInputTokens
		}
		if e.Usage.CacheWriteTokens > 0 {
			u.CacheWriteTokens = &e.Usage.CacheWriteTokens
		}
		t.out.Usage(u)
		t.completed = true
	case "turn.failed":
		t.failure = e.Error.Message
		if t.failure == "" {
			t.failure = "codex reported a failed turn"
		}
	case "error":
		// "Reconnecting... N/5": a retry notice, not progress.
		t.lastError = e.Message
	}
	return nil
}

func (t *translator) item(e event) error {
	it := e.Item
	done := e.Type == "item.completed"
	switch it.Type {
	case "agent_message":
		t.wd.Progress()
		if done {
			return t.out.Text(it.Text)
		}
	case "command_execution":
		t.wd.Progress()
		args, _ := json.Marshal(map[string]string{"command": it.Command})
		call := agent.ToolCall{CallID: it.ID, ToolName: "shell", Args: args, Status: protocol.ToolRunning}
		if done {
			res, _ := json.Marshal(map[string]any{"output": it.Output, "exitCode": it.ExitCode})
			call.Status, call.Result = protocol.ToolCompleted, res
			if it.Status == "failed" || (it.ExitCode != nil && *it.ExitCode != 0) {
				call.Status, call.Result, call.Error = protocol.ToolError, nil, fmt.Sprintf("exit code %v: %s", deref(it.ExitCode), agent.Truncate(it.Output, 2000))
			}
		}
		return t.out.Tool(call)
	case "mcp_tool_call":
		t.wd.Progress()
		call := agent.ToolCall{CallID: it.ID, ToolName: it.Server + "__" + it.Tool, Args: it.Arguments, Status: protocol.ToolRunning}
		if done {
			call.Status, call.Result = protocol.ToolCompleted, it.Result
			if it.Status == "failed" {
				call.Status, call.Result, call.Error = protocol.ToolError, nil, string(it.Error)
			}
		}
		return t.out.Tool(call)
	case "file_change":
		t.wd.Progress()
		call := agent.ToolCall{CallID: it.ID, ToolName: "file_change", Args: it.Changes, Status: protocol.ToolRunning}
		if done {
			call.Status = protocol.ToolCompleted
			if it.Status == "failed" {
				call.Status, call.Error = protocol.ToolError, "the patch did not apply"
			}
		}
		return t.out.Tool(call)
	case "reasoning", "todo_list", "web_search":
		t.wd.Progress()
	case "error":
		// "Model metadata for … not found": Codex goes on; so do we.
	}
	return nil
}

func deref(p *int) any {
	if p == nil {
		return "?"
	}
	return *p
}

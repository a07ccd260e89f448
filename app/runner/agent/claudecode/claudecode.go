// Package claudecode drives Claude Code: one long-lived
// `claude -p --input-format stream-json --output-format stream-json`
// process per session, a prompt per stdin line, a turn per `result` line.
// Text streams from partial messages; an abort kills the process and the
// next prompt resumes the same Claude session by id
// (reference/agent-clis.md, "Claude Code").
package claudecode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner/agent"
	"github.com/agentops/agentops/app/runner/agent/cli"
)

// Info describes the adapter.
var Info = agent.Info{
	ID: "claude-code", Name: "Claude Code",
	Package: "@anthropic-ai/claude-code", Version: "2.1.332", Bin: "claude",
	Providers:     []string{"anthropic"},
	DefaultModels: map[string]string{"anthropic": "claude-sonnet-4-5"},
	Deltas:        true, Resume: true, Usage: true,
}

// ErrRoot is why a root runner without --agents-allow-root cannot run it.
var ErrRoot = errors.New("claude-code refuses to bypass its permission prompts as root: run local runners as an unprivileged user (--runner-user, AGENTOPS_RUNNER_USER) or tell the agents they are sandboxed (--agents-allow-root, AGENTOPS_AGENTS_ALLOW_ROOT)")

// providerEnv are the only variables of the runner's environment the
// CLI gets besides PATH and locale.
var providerEnv = []string{"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"}

// Agent is the Claude Code adapter.
type Agent struct {
	opts agent.Options
	bin  string
	dirs cli.Dirs

	mu      sync.Mutex
	proc    *cli.Proc
	model   string // the model proc runs
	session string // Claude's session id
	starts  int    // processes started (tests)
	// seed: the process started a new Claude session; its first prompt
	// carries the transcript so far (agent.SeedPrompt).
	seed bool
}

// Factory builds the adapter; the process starts with the first prompt.
func Factory(o agent.Options) (agent.Agent, error) { return New(o) }

// New builds the adapter.
func New(o agent.Options) (*Agent, error) {
	o.Deadlines = o.Deadlines.WithDefaults()
	bin := o.Bin
	if bin == "" {
		in, err := agent.Locate(context.Background(), Info, o.AgentsDir, o.Env("PATH"))
		if err != nil {
			// Building must not fail (the server asks every adapter for
			// its models); the first turn reports it.
			bin = ""
		} else {
			bin = in.Path
		}
	}
	return &Agent{opts: o, bin: bin}, nil
}

func (a *Agent) Name() string { return Info.ID }

func (a *Agent) Models() []protocol.ModelGroup {
	return []protocol.ModelGroup{{Provider: "anthropic", Models: []protocol.Model{
		{ID: "anthropic/claude-sonnet-4-5", Name: "Claude Sonnet 4.5"},
		{ID: "anthropic/claude-opus-4-1", Name: "Claude Opus 4.1"},
		{ID: "anthropic/claude-haiku-4-5", Name: "Claude Haiku 4.5"},
	}}}
}

// Answer: Claude Code asks nothing through the runner yet (approvals are
// the next issue).
func (a *Agent) Answer(string, any) {}

// Starts reports how many CLI processes this agent started.
func (a *Agent) Starts() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.starts
}

// Close stops the process and removes a temporary state dir.
func (a *Agent) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.proc != nil {
		a.proc.CloseStdin(a.opts.Deadlines.KillGrace)
		a.proc = nil
	}
	return a.dirs.Remove()
}

func modelName(m string) string {
	m = strings.TrimPrefix(m, "anthropic/")
	if m == "" {
		return Info.DefaultModels["anthropic"]
	}
	return m
}

// transcriptExists reports whether Claude's own transcript of the session
// is in its HOME (else it cannot resume it).
func (a *Agent) transcriptExists(id string) bool {
	m, _ := filepath.Glob(filepath.Join(a.dirs.Home, ".claude", "projects", "*", id+".jsonl"))
	return len(m) > 0
}

// start runs the CLI for model, resuming session when Claude still has it.
// Call with mu held.
func (a *Agent) start(p agent.Prompt, model string, out agent.Turn) error {
	if a.bin == "" {
		return fmt.Errorf("claude-code is not installed (agentops agents install claude-code)")
	}
	if a.dirs.Root == "" {
		d, err := cli.MakeDirs(a.opts.StateDir, Info.ID)
		if err != nil {
			return err
		}
		a.dirs = d
	}
	if a.session == "" {
		a.session = p.AgentSessionID
	}
	args := []string{"-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose",
		"--include-partial-messages", "--model", model, "--permission-mode", "bypassPermissions"}
	if a.session != "" && a.transcriptExists(a.session) {
		args = append(args, "--resume", a.session)
	} else {
		if a.session != "" {
			a.opts.Log().Warn("claude-code has no transcript of the stored session; starting a new one", "agent_session_id", a.session)
		}
		a.session = uuid.NewString()
		a.seed = true // a new Claude session: give it the transcript so far
		args = append(args, "--session-id", a.session)
	}
	if len(p.Persona) > 0 {
		var b strings.Builder
		for _, f := range p.Persona {
			b.WriteString(f.Content)
			b.WriteString("\n\n")
		}
		args = append(args, "--append-system-prompt", strings.TrimSpace(b.String()))
	}
	env := cli.Env(a.opts, a.dirs)
	env = cli.Pass(env, a.opts, providerEnv...)
	env = append(env,
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "DISABLE_AUTOUPDATER=1", "DISABLE_TELEMETRY=1",
		"DISABLE_ERROR_REPORTING=1", "CLAUDE_CODE_MAX_RETRIES=2")
	if a.opts.AllowRoot {
		env = append(env, "IS_SANDBOX=1")
	}
	proc, err := cli.Start(a.bin, args, p.Workspace, env, true, a.opts.Log())
	if err != nil {
		return err
	}
	a.proc, a.model = proc, model
	a.starts++
	return out.SetAgentSession(a.session)
}

// stop ends the process. Call with mu held.
func (a *Agent) stop() {
	if a.proc != nil {
		a.proc.Stop(a.opts.Deadlines.KillGrace)
		a.proc = nil
	}
}

func (a *Agent) Run(ctx context.Context, p agent.Prompt, out agent.Turn) error {
	if os.Geteuid() == 0 && !a.opts.AllowRoot {
		return ErrRoot
	}
	if p.Workspace == "" {
		p.Workspace = a.opts.Workspace
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	ctx, wd := agent.StartWatchdog(ctx, a.opts.Deadlines)
	defer wd.Stop()

	model := modelName(p.Model)
	if a.proc != nil && a.model != model {
		a.stop() // --model is per process: resume with the new one
	}
	if a.proc == nil {
		if err := a.start(p, model, out); err != nil {
			return err
		}
	}
	content := p.Content
	if a.seed {
		a.seed = false
		content = agent.SeedPrompt(ctx, out, p, a.opts.Log())
	}
	if err := a.proc.Send(map[string]any{"type": "user", "message": map[string]any{"role": "user", "content": content}}); err != nil {
		err = a.proc.ExitError("claude")
		a.stop()
		return err
	}
	tr := &translator{out: out, wd: wd, tools: map[string]agent.ToolCall{}, streamed: map[string]bool{}}
	for {
		select {
		case <-ctx.Done():
			a.stop() // the next prompt resumes the session
			return agent.CtxErr(ctx)
		case line, ok := <-a.proc.Lines():
			if !ok {
				err := a.proc.ExitError("claude")
				a.proc = nil
				return err
			}
			done, err := tr.handle(line)
			if err != nil || done {
				if tr.session != "" && tr.session != a.session {
					a.session = tr.session
					_ = out.SetAgentSession(a.session)
				}
				return err
			}
		}
	}
}

// translator maps Claude's stream-json lines to the Turn.
type translator struct {
	out      agent.Turn
	wd       *agent.Watchdog
	tools    map[string]agent.ToolCall // tool_use id → the call as it started
	streamed map[string]bool           // message ids whose text came as deltas
	session  string
}

type line struct {
	Type      string          `json:"type"`
	Subtype   string          `json:"subtype"`
	SessionID string          `json:"session_id"`
	Event     json.RawMessage `json:"event"`
	APIMsgID  string          `json:"api_message_id"`
	Message   struct {
		ID      string `json:"id"`
		Content []struct {
			Type      string          `json:"type"`
			Text      string          `json:"text"`
			ID        string          `json:"id"`
			Name      string          `json:"name"`
			Input     json.RawMessage `json:"input"`
			ToolUseID string          `json:"tool_use_id"`
			Content   json.RawMessage `json:"content"`
			IsError   bool            `json:"is_error"`
		} `json:"content"`
	} `json:"message"`
	IsError bool   `json:"is_error"`
	Result  string `json:"result"`
	Usage   struct {
		InputTokens       int64 `json:"input_tokens"`
		OutputTokens      int64 `json:"output_tokens"`
		CacheReadTokens   int64 `json:"cache_read_input_tokens"`
		CacheCreateTokens int64 `json:"cache_creation_input_tokens"`
	} `json:"usage"`
	TotalCostUSD *float64 `json:"total_cost_usd"`
}

type streamEvent struct {
	Type    string `json:"type"`
	Message struct {
		ID string `json:"id"`
	} `json:"message"`
	Delta struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"delta"`
}

// handle takes one line; done at the turn's result.
func (t *translator) handle(raw json.RawMessage) (done bool, err error) {
	var l line
	if err := json.Unmarshal(raw, &l); err != nil {
		return false, nil // valid JSON of another shape: not ours to read
	}
	switch l.Type {
	case "system":
		if l.Subtype == "init" && l.SessionID != "" {
			t.session = l.SessionID
		}
	case "stream_event":
		var ev streamEvent
		if json.Unmarshal(l.Event, &ev) != nil {
			return false, nil
		}
		t.wd.Progress()
		if ev.Type == "content_block_delta" && ev.Delta.Type == "text_delta" {
			t.streamed[l.APIMsgID] = true
			return false, t.out.Text(ev.Delta.Text)
		}
	case "assistant":
		t.wd.Progress()
		for _, c := range l.Message.Content {
			switch c.Type {
			case "text":
				if !t.streamed[l.Message.ID] {
					if err := t.out.Text(c.Text); err != nil {
						return false, err
					}
				}
			case "tool_use":
				call := agent.ToolCall{CallID: c.ID, ToolName: c.Name, Status: protocol.ToolRunning, Args: c.Input}
				t.tools[c.ID] = call
				if err := t.out.Tool(call); err != nil {
					return false, err
				}
			}
		}
	case "user":
		t.wd.Progress()
		for _, c := range l.Message.Content {
			if c.Type != "tool_result" {
				continue
			}
			call := t.tools[c.ToolUseID]
			call.CallID, call.Status, call.Result = c.ToolUseID, protocol.ToolCompleted, c.Content
			if call.ToolName == "" {
				call.ToolName = "tool"
			}
			if c.IsError {
				call.Status, call.Result, call.Error = protocol.ToolError, nil, toolText(c.Content)
			}
			if err := t.out.Tool(call); err != nil {
				return false, err
			}
		}
	case "result":
		if l.SessionID != "" {
			t.session = l.SessionID
		}
		u := protocol.Usage{InputTokens: l.Usage.InputTokens, OutputTokens: l.Usage.OutputTokens, CostUSD: l.TotalCostUSD}
		if l.Usage.CacheReadTokens > 0 {
			u.CacheReadTokens = &l.Usage.CacheReadTokens
		}
		if l.Usage.CacheCreateTokens > 0 {
			u.CacheWriteTokens = &l.Usage.CacheCreateTokens
		}
		t.out.Usage(u)
		if l.IsError {
			msg := strings.TrimSpace(l.Result)
			if msg == "" {
				msg = "claude-code reported an error (" + l.Subtype + ")"
			}
			return true, errors.New(msg)
		}
		return true, nil
	}
	return false, nil
}

// toolText renders a tool_result's content (a string or text blocks).
func toolText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var blocks []struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &blocks) == nil {
		var parts []string
		for _, b := range blocks {
			parts = append(parts, b.Text)
		}
		return strings.Join(parts, "\n")
	}
	return string(raw)
}

// Package opencode drives OpenCode: one `opencode serve` per session on a
// free loopback port with a generated password (HTTP basic auth, user
// "opencode"), driven through its HTTP API; a turn is a prompt_async and
// ends at the session's `session.idle` on the `/event` stream; abort goes
// through its abort route (reference/agent-clis.md, "OpenCode").
package opencode

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner/agent"
	"github.com/agentops/agentops/app/runner/agent/cli"
)

// Info describes the adapter.
var Info = agent.Info{
	ID: "opencode", Name: "OpenCode",
	Package: "opencode-ai", Version: "1.18.33", Bin: "opencode",
	Providers:     []string{"anthropic", "openai", "custom"},
	DefaultModels: map[string]string{"anthropic": "claude-sonnet-4-5", "openai": "gpt-5"},
	Deltas:        true, Resume: true, Usage: true,
}

// Agent is the OpenCode adapter.
type Agent struct {
	opts agent.Options
	bin  string

	mu      sync.Mutex
	dirs    cli.Dirs
	proc    *cli.Proc
	base    string // http://127.0.0.1:PORT
	pass    string
	events  chan event // from the /event reader while proc runs
	stopSSE context.CancelFunc
	sseDone chan struct{}
	session string
	starts  int
	// old holds the message ids of earlier turns: their late events
	// (an abort's error, a last update) must not end the next turn.
	old map[string]bool
}

// Factory builds the adapter.
func Factory(o agent.Options) (agent.Agent, error) { return New(o) }

// New builds the adapter; the server starts with the first prompt.
func New(o agent.Options) (*Agent, error) {
	o.Deadlines = o.Deadlines.WithDefaults()
	bin := o.Bin
	if bin == "" {
		if in, err := agent.Locate(context.Background(), Info, o.AgentsDir, o.Env("PATH")); err == nil {
			bin = in.Path
		}
	}
	return &Agent{opts: o, bin: bin, old: map[string]bool{}}, nil
}

func (a *Agent) Name() string { return Info.ID }

func (a *Agent) Models() []protocol.ModelGroup {
	return []protocol.ModelGroup{
		{Provider: "anthropic", Models: []protocol.Model{{ID: "anthropic/claude-sonnet-4-5", Name: "Claude Sonnet 4.5"}}},
		{Provider: "openai", Models: []protocol.Model{{ID: "openai/gpt-5", Name: "GPT-5"}}},
	}
}

// Answer: permission questions are the next issue.
func (a *Agent) Answer(string, any) {}

// Starts reports how many servers this agent started.
func (a *Agent) Starts() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.starts
}

// Close stops the server.
func (a *Agent) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stop()
	return a.dirs.Remove()
}

func (a *Agent) stop() {
	if a.stopSSE != nil {
		a.stopSSE()
		<-a.sseDone
		a.stopSSE = nil
	}
	if a.proc != nil {
		a.proc.Stop(a.opts.Deadlines.KillGrace)
		a.proc = nil
	}
}

// provider picks the provider config and model from the runner's
// environment and the prompt's model: anthropic, then openai, then an
// OpenAI-compatible endpoint, unless the model names a provider.
func (a *Agent) provider(model string) (cfg map[string]any, providerID, modelID string, err error) {
	want := ""
	if i := strings.IndexByte(model, '/'); i >= 0 {
		want, model = model[:i], model[i+1:]
	}
	anth, oai := a.opts.Env("ANTHROPIC_API_KEY"), a.opts.Env("OPENAI_API_KEY")
	switch {
	case anth != "" && (want == "" || want == "anthropic"):
		opts := map[string]any{"apiKey": anth}
		if b := a.opts.Env("ANTHROPIC_BASE_URL"); b != "" {
			opts["baseURL"] = strings.TrimRight(b, "/") + "/v1"
		}
		if model == "" {
			model = Info.DefaultModels["anthropic"]
		}
		return map[string]any{"anthropic": map[string]any{"options": opts}}, "anthropic", model, nil
	case oai != "":
		base := a.opts.Env("OPENAI_BASE_URL")
		if base == "" {
			if model == "" {
				model = Info.DefaultModels["openai"]
			}
			return map[string]any{"openai": map[string]any{"options": map[string]any{"apiKey": oai}}}, "openai", model, nil
		}
		if model == "" {
			model = strings.Split(a.opts.Env("OPENAI_MODELS"), ",")[0]
		}
		if model == "" {
			model = Info.DefaultModels["openai"]
		}
		return map[string]any{"agentops": map[string]any{
			"npm": "@ai-sdk/openai-compatible", "name": "agentops",
			"options": map[string]any{"baseURL": base, "apiKey": oai},
			"models":  map[string]any{model: map[string]any{"name": model, "tool_call": true, "limit": map[string]any{"context": 128000, "output": 8192}}},
		}}, "agentops", model, nil
	}
	return nil, "", "", errors.New("opencode has no provider credential (ANTHROPIC_API_KEY or OPENAI_API_KEY)")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs `opencode serve` and waits for its health. Call with mu held.
func (a *Agent) start(ctx context.Context, p agent.Prompt, provCfg map[string]any, providerID, modelID string) error {
	if a.bin == "" {
		return errors.New("opencode is not installed (agentops agents install opencode)")
	}
	if a.dirs.Root == "" {
		d, err := cli.MakeDirs(a.opts.StateDir, Info.ID)
		if err != nil {
			return err
		}
		a.dirs = d
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	pw := make([]byte, 16)
	_, _ = rand.Read(pw)
	a.pass = hex.EncodeToString(pw)
	conf, _ := json.Marshal(map[string]any{
		"autoupdate": false, "share": "disabled", "provider": provCfg,
		"model": providerID + "/" + modelID, "small_model": providerID + "/" + modelID,
		"permission": map[string]any{"edit": "allow", "bash": "allow", "webfetch": "deny"},
	})
	env := cli.Env(a.opts, a.dirs)
	env = append(env, "OPENCODE_CONFIG_CONTENT="+string(conf), "OPENCODE_SERVER_PASSWORD="+a.pass,
		"OPENCODE_DISABLE_MODELS_FETCH=1", "OPENCODE_DISABLE_AUTOUPDATE=1", "OPENCODE_DISABLE_LSP_DOWNLOAD=1",
		"OPENCODE_DISABLE_SHARE=1", "OPENCODE_DISABLE_PROJECT_CONFIG=1",
		// Without it every start asks registry.npmjs.org for a plugin.
		"npm_config_registry=http://127.0.0.1:1/")
	proc, err := cli.Start(a.bin, []string{"serve", "--port", fmt.Sprint(port), "--hostname", "127.0.0.1"}, p.Workspace, env, false, a.opts.Log())
	if err != nil {
		return err
	}
	a.proc, a.base = proc, fmt.Sprintf("http://127.0.0.1:%d", port)
	a.starts++
	for {
		// A request that arrives while it starts may never be answered:
		// each probe gets two seconds.
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := a.call(hctx, "GET", "/global/health", nil, nil)
		cancel()
		if err == nil {
			break
		}
		a.opts.Log().Debug("opencode health", "err", err)
		select {
		case <-ctx.Done():
			a.stop()
			return agent.CtxErr(ctx)
		case <-proc.Done():
			err := proc.ExitError("opencode")
			a.proc = nil
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
	sctx, cancel := context.WithCancel(context.Background())
	a.events, a.stopSSE, a.sseDone = make(chan event, 1024), cancel, make(chan struct{})
	go func() { defer close(a.sseDone); a.readEvents(sctx) }()
	return nil
}

func (a *Agent) call(ctx context.Context, method, path string, body, out any) error {
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	req.SetBasicAuth("opencode", a.pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("opencode %s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

type event struct {
	Type       string          `json:"type"`
	Properties json.RawMessage `json:"properties"`
}

// readEvents reads /event until ctx ends, handing events to a.events.
func (a *Agent) readEvents(ctx context.Context) {
	defer close(a.events)
	req, err := http.NewRequestWithContext(ctx, "GET", a.base+"/event", nil)
	if err != nil {
		return
	}
	req.SetBasicAuth("opencode", a.pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.opts.Log().Warn("opencode event stream", "err", err)
		return
	}
	defer resp.Body.Close()
	a.opts.Log().Debug("opencode event stream", "status", resp.StatusCode)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 32<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev event
		if json.Unmarshal([]byte(line), &ev) != nil {
			a.opts.Log().Warn("skipping a malformed event from opencode", "line", agent.Truncate(line, 200))
			continue
		}
		a.opts.Log().Debug("opencode event", "type", ev.Type, "properties", agent.Truncate(string(ev.Properties), 300))
		select {
		case a.events <- ev:
		case <-ctx.Done():
			return
		}
	}
}

func (a *Agent) Run(ctx context.Context, p agent.Prompt, out agent.Turn) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p.Workspace == "" {
		p.Workspace = a.opts.Workspace
	}
	provCfg, providerID, modelID, err := a.provider(p.Model)
	if err != nil {
		return err
	}
	ctx, wd := agent.StartWatchdog(ctx, a.opts.Deadlines)
	defer wd.Stop()
	if a.proc == nil {
		if err := a.start(ctx, p, provCfg, providerID, modelID); err != nil {
			return err
		}
	}
	content := p.Content
	if a.session == "" && p.AgentSessionID != "" {
		if a.call(ctx, "GET", "/session/"+p.AgentSessionID, nil, nil) == nil {
			a.session = p.AgentSessionID
		} else {
			a.opts.Log().Warn("opencode has no stored session; starting a new one", "agent_session_id", p.AgentSessionID)
		}
	}
	if a.session == "" {
		var s struct{ ID string }
		if err := a.call(ctx, "POST", "/session", map[string]any{"title": "agentops"}, &s); err != nil {
			return err
		}
		a.session = s.ID
		// A new OpenCode session: it gets the transcript so far.
		content = agent.SeedPrompt(ctx, out, p, a.opts.Log())
	}
	if err := out.SetAgentSession(a.session); err != nil {
		return err
	}
	err = a.call(ctx, "POST", "/session/"+a.session+"/prompt_async", map[string]any{
		"parts": []any{map[string]any{"type": "text", "text": content}},
		"model": map[string]any{"providerID": providerID, "modelID": modelID},
	}, nil)
	if err != nil {
		return err
	}
	tr := &translator{out: out, wd: wd, session: a.session, roles: map[string]string{}, deltas: map[string]bool{},
		texts: map[string]string{}, old: a.old}
	defer func() {
		for id := range tr.roles {
			a.old[id] = true
		}
	}()
	for {
		select {
		case <-ctx.Done():
			a.abort(tr)
			return agent.CtxErr(ctx)
		case ev, ok := <-a.events:
			if !ok {
				err := errors.New("opencode's event stream ended")
				if a.proc != nil {
					select {
					case <-a.proc.Done():
						err = a.proc.ExitError("opencode")
					default:
					}
				}
				a.stop()
				return err
			}
			done, err := tr.handle(ev)
			if done || err != nil {
				return err
			}
		}
	}
}

// abort asks OpenCode to abort the turn, waits (a few seconds) for the
// session to go idle, then stops the server: OpenCode keeps an aborted
// turn's model request open until the model ends it, and the next prompt
// would wait behind it. The next prompt starts a new server on the same
// session (its data dir keeps it).
func (a *Agent) abort(tr *translator) {
	actx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	defer a.stop()
	if err := a.call(actx, "POST", "/session/"+a.session+"/abort", nil, nil); err != nil {
		a.stop()
		return
	}
	tr.out = discard{}
	for {
		select {
		case <-actx.Done():
			a.stop()
			return
		case ev, ok := <-a.events:
			if !ok {
				a.stop()
				return
			}
			if done, _ := tr.handle(ev); done {
				return
			}
		}
	}
}

// discard is a Turn that drops everything (the end of an aborted turn).
type discard struct{}

func (discard) Start() (string, error)             { return "", nil }
func (discard) Text(string) error                  { return nil }
func (discard) Tool(agent.ToolCall) error          { return nil }
func (discard) Ask(agent.Question) (string, error) { return "", nil }
func (discard) SetFinalText(string)                {}
func (discard) Usage(protocol.Usage)               {}
func (discard) SetAgentSession(string) error       { return nil }
func (discard) Call(context.Context, protocol.RunnerFrame) (map[string]json.RawMessage, error) {
	return nil, agent.ErrTurnEnded
}

// translator maps OpenCode's events for one session to the Turn.
type translator struct {
	out     agent.Turn
	wd      *agent.Watchdog
	session string
	roles   map[string]string // message id → role
	deltas  map[string]bool   // part ids whose text came as deltas
	texts   map[string]string // part id → latest full text
	order   []string
	failure string
	old     map[string]bool // message ids of earlier turns
	busy    bool            // this turn's prompt has been taken up
}

func (t *translator) handle(ev event) (done bool, err error) {
	var p struct {
		SessionID string          `json:"sessionID"`
		MessageID string          `json:"messageID"`
		PartID    string          `json:"partID"`
		Field     string          `json:"field"`
		Delta     string          `json:"delta"`
		Info      json.RawMessage `json:"info"`
		Part      json.RawMessage `json:"part"`
		Error     *struct {
			Name string `json:"name"`
			Data struct {
				Message string `json:"message"`
			} `json:"data"`
		} `json:"error"`
	}
	if json.Unmarshal(ev.Properties, &p) != nil {
		return false, nil
	}
	switch ev.Type {
	case "message.updated":
		var info struct {
			ID, SessionID, Role string
			Error               *struct {
				Name string
				Data struct{ Message string }
			}
		}
		_ = json.Unmarshal(p.Info, &info)
		if info.SessionID == t.session && !t.old[info.ID] {
			t.busy = true
			t.roles[info.ID] = info.Role
			if info.Error != nil && info.Role == "assistant" {
				t.failure = firstNonEmpty(info.Error.Data.Message, info.Error.Name)
			}
		}
	case "message.part.delta":
		if p.SessionID == t.session && p.Field == "text" && t.roles[p.MessageID] == "assistant" && !t.old[p.MessageID] {
			t.wd.Progress()
			t.deltas[p.PartID] = true
			return false, t.out.Text(p.Delta)
		}
	case "message.part.updated":
		var part struct {
			ID, SessionID, MessageID, Type, Text, Tool, CallID string
			State                                              struct {
				Status string          `json:"status"`
				Input  json.RawMessage `json:"input"`
				Output json.RawMessage `json:"output"`
				Error  string          `json:"error"`
			} `json:"state"`
			Tokens struct {
				Input, Output int64
				Cache         struct{ Read, Write int64 }
			} `json:"tokens"`
			Cost float64 `json:"cost"`
		}
		_ = json.Unmarshal(p.Part, &part)
		if part.SessionID != t.session || t.roles[part.MessageID] == "user" || t.old[part.MessageID] {
			return false, nil
		}
		switch part.Type {
		case "text":
			if _, seen := t.texts[part.ID]; !seen {
				t.order = append(t.order, part.ID)
			}
			if part.Text != "" && part.Text != t.texts[part.ID] {
				t.wd.Progress()
			}
			t.texts[part.ID] = part.Text
		case "tool":
			t.wd.Progress()
			call := agent.ToolCall{CallID: part.CallID, ToolName: part.Tool, Args: part.State.Input}
			switch part.State.Status {
			case "completed":
				call.Status, call.Result = protocol.ToolCompleted, part.State.Output
			case "error":
				call.Status, call.Error = protocol.ToolError, part.State.Error
			case "running":
				call.Status = protocol.ToolRunning
			default:
				call.Status = protocol.ToolPending
			}
			return false, t.out.Tool(call)
		case "step-start":
			// Not progress by itself: on a malformed or cut-off model
			// answer OpenCode loops forever through empty steps
			// (step-start, then step-finish with reason "unknown" and no
			// tokens), which must not hold off the no-progress deadline.
		case "step-finish":
			if part.Tokens.Input+part.Tokens.Output > 0 {
				t.wd.Progress()
			}
			u := protocol.Usage{InputTokens: part.Tokens.Input, OutputTokens: part.Tokens.Output}
			if part.Tokens.Cache.Read > 0 {
				u.CacheReadTokens = &part.Tokens.Cache.Read
			}
			if part.Tokens.Cache.Write > 0 {
				u.CacheWriteTokens = &part.Tokens.Cache.Write
			}
			if part.Cost > 0 {
				c := part.Cost
				u.CostUSD = &c
			}
			t.out.Usage(u)
		}
	case "session.error":
		if p.SessionID == t.session && p.Error != nil && t.busy {
			t.failure = firstNonEmpty(p.Error.Data.Message, p.Error.Name)
		}
	case "session.idle":
		if p.SessionID != t.session || !t.busy {
			return false, nil // an earlier turn's idle
		}
		for _, id := range t.order { // text that never came as deltas
			if !t.deltas[id] {
				if err := t.out.Text(t.texts[id]); err != nil {
					return true, err
				}
			}
		}
		if t.failure != "" {
			return true, errors.New(t.failure)
		}
		return true, nil
	}
	return false, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return "opencode reported an error"
}

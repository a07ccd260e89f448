// Package script is the deterministic agent for tests and demos.
package script

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner/agent"
)

// Agent is the deterministic agent for tests and demos: it answers
// "You said: <prompt>", and lines of the prompt that start with "/" script
// its behaviour (tool calls, pacing, chunking, questions, failures). The
// grammar is in docs/script-agent.md.
type Agent struct {
	// stateDir keeps each agent session's prompts (for /recall) across
	// restarts; empty: memory only.
	stateDir string

	mu      sync.Mutex
	waiting map[string]chan any // question id → where its answer goes
	history map[string][]string // agent session id → its prompts
}

// New returns a script agent that remembers its sessions in memory.
func New() *Agent { return NewWithState("") }

// NewWithState returns a script agent that keeps each session's prompts
// in files under stateDir, so that /recall works after a restart.
func NewWithState(stateDir string) *Agent {
	return &Agent{stateDir: stateDir, waiting: make(map[string]chan any), history: make(map[string][]string)}
}

// Script agent limits.
const (
	DefaultChunks = 3
	MaxChunks     = 100000
	scriptMaxWait = 10 * time.Minute // cap on /slow and /sleep
)

func (a *Agent) Name() string { return "script" }

func (a *Agent) Models() []protocol.ModelGroup {
	return []protocol.ModelGroup{{
		Provider: "script",
		Models:   []protocol.Model{{ID: "script/echo", Name: "Script (deterministic)"}},
	}}
}

// Answer hands an answer to the turn waiting for it; answers to unknown
// (or already answered) questions are dropped.
func (a *Agent) Answer(questionID string, answer any) {
	a.mu.Lock()
	ch := a.waiting[questionID]
	delete(a.waiting, questionID)
	a.mu.Unlock()
	if ch != nil {
		ch <- answer // buffered: never blocks
	}
}

func (a *Agent) Run(ctx context.Context, p agent.Prompt, out agent.Turn) error {
	s := parseScript(p.Content)
	// Without a state directory the agent keeps one history in memory and
	// reports no session id (nothing would survive a restart anyway).
	sess := p.AgentSessionID
	if a.stateDir != "" && !validSessionID(sess) {
		sess = "script-" + uuid.NewString()
		if err := out.SetAgentSession(sess); err != nil {
			return err
		}
	}
	earlier := a.prompts(sess)
	if s.quote != "" {
		if err := a.remember(sess, s.quote); err != nil {
			return err
		}
	}
	if err := wait(ctx, s.sleep); err != nil {
		return err
	}
	started := false
	pace := func() error { // /slow: between any two outputs
		if !started {
			started = true
			return nil
		}
		return wait(ctx, s.slow)
	}

	for i, tool := range s.tools {
		call := agent.ToolCall{CallID: fmt.Sprintf("call_%d", i+1), ToolName: tool.name, Args: tool.args}
		for _, status := range []string{protocol.ToolPending, protocol.ToolRunning, tool.status} {
			if err := pace(); err != nil {
				return err
			}
			call.Status = status
			call.Result, call.Error = nil, ""
			switch status {
			case protocol.ToolCompleted:
				call.Result = json.RawMessage(`{"ok":true}`)
			case protocol.ToolError:
				call.Error = "script tool failed"
			}
			if err := out.Tool(call); err != nil {
				return err
			}
		}
	}

	if err := runFileOps(ctx, p, out, s.files); err != nil {
		return err
	}

	for i, m := range s.mems {
		if err := pace(); err != nil {
			return err
		}
		if err := runMem(ctx, out, fmt.Sprintf("mem_%d", i+1), m); err != nil {
			return err
		}
	}

	var lines []string
	for _, name := range s.env {
		lines = append(lines, envLine(name))
	}
	if s.persona {
		lines = append(lines, personaLines(p.Persona)...)
	}
	for _, q := range s.asks {
		answer, err := a.ask(ctx, out, q)
		if err != nil {
			return err
		}
		if answer == agent.Expired {
			lines = append(lines, "The question expired.")
		} else {
			lines = append(lines, "You answered: "+answer)
		}
	}

	if s.fail != nil {
		if _, err := out.Start(); err != nil {
			return err
		}
		return errors.New(*s.fail)
	}

	if s.recall {
		lines = append(lines, "Earlier prompts: "+strings.Join(earlier, " | "))
	}
	if (len(s.asks) == 0 && !s.persona && len(s.env) == 0 && !s.recall) || s.quote != "" {
		lines = append(lines, "You said: "+s.quote)
	}
	reply := strings.Join(lines, "\n")
	chunks := splitChunks(reply, s.chunks)
	for _, c := range chunks {
		if err := pace(); err != nil {
			return err
		}
		if err := out.Text(c); err != nil {
			return err
		}
	}
	out.SetFinalText(strings.Join(chunks, ""))
	return nil
}

// ask sends q and waits for its answer, rendered as text.
func (a *Agent) ask(ctx context.Context, out agent.Turn, q agent.Question) (string, error) {
	q.QuestionID = "q_" + uuid.NewString()
	ch := make(chan any, 1)
	a.mu.Lock()
	a.waiting[q.QuestionID] = ch
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.waiting, q.QuestionID)
		a.mu.Unlock()
	}()
	if _, err := out.Ask(q); err != nil {
		return "", err
	}
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case v := <-ch:
		switch v := v.(type) {
		case nil:
			return "", nil
		case string:
			return v, nil
		default:
			b, err := json.Marshal(v)
			if err != nil {
				return fmt.Sprint(v), nil
			}
			return string(b), nil
		}
	}
}

// wait sleeps for d unless ctx ends first.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// splitChunks cuts s into n pieces of nearly equal rune counts whose
// concatenation is s. A reply of fewer than n runes goes out one rune per
// piece (fewer than n pieces: padding would change the reply), except that
// a reply shorter than the default 3 runes is padded with '.' to 3, so a
// turn always streams at least 3 deltas unless asked for fewer.
func splitChunks(s string, n int) []string {
	n = max(n, 1)
	runes := []rune(s)
	if len(runes) < min(n, DefaultChunks) {
		runes = append(runes, []rune(strings.Repeat(".", min(n, DefaultChunks)-len(runes)))...)
	}
	n = min(n, len(runes))
	pieces := make([]string, n)
	l := len(runes)
	for i := range n {
		pieces[i] = string(runes[i*l/n : (i+1)*l/n])
	}
	return pieces
}

// script is a prompt's directives and the rest of its text.
type script struct {
	quote   string // the prompt without directive lines, trimmed
	tools   []scriptTool
	asks    []agent.Question
	fail    *string
	slow    time.Duration
	sleep   time.Duration
	chunks  int
	mems    []protocol.RunnerFrame
	persona bool
	recall  bool     // /recall: list the session's earlier prompts
	env     []string // /env: variables to report
	files   []scriptFileOp
}

type scriptTool struct {
	name   string
	status string // completed or error
	args   json.RawMessage
}

// parseScript reads the directives of a prompt. A directive is a line
// whose first non-blank character is "/"; unknown or malformed directives
// are ignored (and, like every directive line, left out of the quote).
func parseScript(content string) script {
	s := script{chunks: DefaultChunks}
	var text []string
	for _, line := range strings.Split(content, "\n") {
		line = strings.TrimSuffix(line, "\r")
		trimmed := strings.TrimLeft(line, " \t")
		if !strings.HasPrefix(trimmed, "/") {
			text = append(text, line)
			continue
		}
		name, rest := cutSpace(trimmed[1:])
		name = strings.ToLower(name)
		switch name {
		case "env":
			s.env = append(s.env, strings.Fields(rest)...)
		case "tool":
			if t, ok := parseTool(rest); ok {
				s.tools = append(s.tools, t)
			}
		case "slow":
			if d, ok := parseMillis(rest); ok {
				s.slow = d
			}
		case "sleep":
			if d, ok := parseMillis(rest); ok {
				s.sleep = d
			}
		case "chunks":
			if n, err := strconv.Atoi(rest); err == nil && n >= 1 {
				s.chunks = min(n, MaxChunks)
			}
		case "ask":
			parts := strings.Split(rest, "|")
			q := agent.Question{Text: strings.TrimSpace(parts[0])}
			for _, o := range parts[1:] {
				if o = strings.TrimSpace(o); o != "" {
					q.Options = append(q.Options, o)
				}
			}
			if q.Text != "" {
				s.asks = append(s.asks, q)
			}
		case "mem":
			if f, ok := parseMem(rest); ok {
				s.mems = append(s.mems, f)
			}
		case "write", "write-base64", "delete", "rename", "commit":
			if op, ok := parseFileOp(name, rest); ok {
				s.files = append(s.files, op)
			}
		case "persona":
			s.persona = true
		case "recall":
			s.recall = true
		case "fail":
			msg := rest
			if msg == "" {
				msg = "script failure"
			}
			s.fail = &msg
		}
	}
	s.quote = strings.TrimSpace(strings.Join(text, "\n"))
	return s
}

// parseTool reads "NAME [completed|error] [json-args]". Arguments that are
// not valid JSON are passed as a JSON string.
func parseTool(rest string) (scriptTool, bool) {
	t := scriptTool{status: protocol.ToolCompleted}
	name, rest := cutSpace(rest)
	if name == "" {
		return t, false
	}
	t.name = name
	if word, after := cutSpace(rest); word == protocol.ToolCompleted || word == protocol.ToolError {
		t.status = word
		rest = after
	}
	if rest != "" {
		if json.Valid([]byte(rest)) {
			t.args = json.RawMessage(rest)
		} else {
			b, _ := json.Marshal(rest)
			t.args = b
		}
	}
	return t, true
}

// parseMillis reads a non-negative number of milliseconds, capped.
func parseMillis(s string) (time.Duration, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return time.Duration(min(n, scriptMaxWait.Milliseconds())) * time.Millisecond, true
}

// cutSpace splits s at its first run of blanks: the first word and the
// trimmed rest.
func cutSpace(s string) (word, rest string) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// parseMem reads "OP ARGS" of a /mem directive into an RPC frame:
//
//	read [PATH]            mem-read (no path, or one ending in /, lists)
//	write PATH TEXT        mem-write
//	append PATH TEXT       mem-patch with one append operation
//	patch PATH JSON-OPS    mem-patch
//	rm PATH                mem-rm
//	search QUERY           mem-search
//
// In TEXT, \n stands for a newline.
func parseMem(rest string) (protocol.RunnerFrame, bool) {
	op, rest := cutSpace(rest)
	path, text := cutSpace(rest)
	text = strings.ReplaceAll(text, `\n`, "\n")
	switch strings.ToLower(op) {
	case "read":
		return protocol.RunnerFrame{Type: protocol.RMemRead, Path: path}, true
	case "write":
		return protocol.RunnerFrame{Type: protocol.RMemWrite, Path: path, Content: text}, path != ""
	case "append":
		ops, _ := json.Marshal([]map[string]string{{"op": "append", "content": text}})
		return protocol.RunnerFrame{Type: protocol.RMemPatch, Path: path, Operations: ops}, path != ""
	case "patch":
		if !json.Valid([]byte(text)) {
			return protocol.RunnerFrame{}, false
		}
		return protocol.RunnerFrame{Type: protocol.RMemPatch, Path: path, Operations: json.RawMessage(text)}, path != ""
	case "rm":
		return protocol.RunnerFrame{Type: protocol.RMemRm, Path: path}, path != ""
	case "search":
		return protocol.RunnerFrame{Type: protocol.RMemSearch, Query: rest}, rest != ""
	}
	return protocol.RunnerFrame{}, false
}

// runMem makes one memory RPC and reports it as a tool call named after
// the RPC (mem_read, …): completed with the result's fields, or error
// with the server's message.
func runMem(ctx context.Context, out agent.Turn, callID string, req protocol.RunnerFrame) error {
	args, _ := json.Marshal(map[string]any{"path": req.Path, "content": req.Content, "query": req.Query,
		"operations": req.Operations})
	call := agent.ToolCall{CallID: callID, ToolName: strings.ReplaceAll(req.Type, "-", "_"), Args: args, Status: protocol.ToolRunning}
	if err := out.Tool(call); err != nil {
		return err
	}
	res, err := out.Call(ctx, req)
	switch {
	case errors.Is(err, agent.ErrRPC):
		call.Status, call.Error = protocol.ToolError, err.Error()
	case err != nil:
		return err
	default:
		call.Status = protocol.ToolCompleted
		call.Result, _ = json.Marshal(res)
	}
	return out.Tool(call)
}

// personaLines renders the persona files for /persona: a header line per
// file, then its content.
func personaLines(files []protocol.PersonaFile) []string {
	if len(files) == 0 {
		return []string{"No persona."}
	}
	var out []string
	for _, f := range files {
		out = append(out, "Persona file "+f.Filename+":", f.Content)
	}
	return out
}

// envLine reports whether the runner's environment has name, and a short
// fingerprint of its value (never the value: it may be a secret), so that
// tests can tell which credential reached the sandbox.
func envLine(name string) string {
	v, ok := os.LookupEnv(name)
	if !ok {
		return name + "=unset"
	}
	sum := sha256.Sum256([]byte(v))
	return name + "=set sha256:" + hex.EncodeToString(sum[:6])
}

// Info describes the script agent for the registry.
var Info = agent.Info{
	ID: "script", Name: "Script (deterministic, for tests and demos)",
	Providers: []string{"script"}, DefaultModels: map[string]string{"script": "script/echo"},
	Deltas: true, Resume: true,
}

// Factory builds a script agent; it needs no options.
func Factory(o agent.Options) (agent.Agent, error) {
	if o.StateDir == "" {
		return New(), nil
	}
	return NewWithState(filepath.Join(o.StateDir, "script")), nil
}

// validSessionID accepts the ids this agent mints (they name files).
func validSessionID(id string) bool {
	_, err := uuid.Parse(strings.TrimPrefix(id, "script-"))
	return strings.HasPrefix(id, "script-") && err == nil
}

// prompts returns the session's earlier prompts.
func (a *Agent) prompts(sess string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if h, ok := a.history[sess]; ok || a.stateDir == "" {
		return slices.Clone(h)
	}
	data, err := os.ReadFile(filepath.Join(a.stateDir, sess+".json"))
	if err == nil {
		var h []string
		if json.Unmarshal(data, &h) == nil {
			a.history[sess] = h
		}
	}
	return slices.Clone(a.history[sess])
}

// remember appends a prompt to the session's history.
func (a *Agent) remember(sess, prompt string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.history[sess] = append(a.history[sess], prompt)
	if a.stateDir == "" {
		return nil
	}
	data, _ := json.Marshal(a.history[sess])
	if err := os.MkdirAll(a.stateDir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(a.stateDir, sess+".json"), data, 0o600)
}

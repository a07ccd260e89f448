// Package agent is the seam between the runner and a coding agent: the
// Agent interface an adapter implements, the Turn the runner hands it for
// one prompt, the registry of adapters, and the pieces every adapter
// shares (how a turn ends on the wire, deadlines). One sub-package per
// adapter (script, claudecode, codex, opencode); each passes the contract
// in agenttest.
//
// Like the runner, this package imports app/protocol and nothing of the
// server: runners run on other machines.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/agentops/agentops/app/protocol"
)

// Agent drives one coding agent. The runner owns the session protocol:
// sequence numbers, agentStatus, complete, aborted, finalize. An agent
// only turns prompts into assistant output through Turn.
//
// An agent that holds a process or a connection also implements
// io.Closer; the runner closes it on the way out.
type Agent interface {
	// Name is the registry name ("script", "claude-code", …).
	Name() string
	// Models lists what the agent can run; sent as `models` once per
	// connection. Nil is allowed (nothing discovered yet).
	Models() []protocol.ModelGroup
	// Run runs one turn: the runner calls it for one prompt at a time. It
	// returns nil when the turn ended normally and an error when it
	// failed; when ctx is canceled (abort, shutdown) it must return
	// within a few seconds, with ctx.Err() or any error. The runner
	// finalizes the message after Run returns; out must not be used after
	// that.
	Run(ctx context.Context, p Prompt, out Turn) error
	// Answer delivers the user's answer to a question the agent asked
	// with Turn.Ask. The literal string "__expired__" means the question
	// timed out. It is called from the socket's read loop and must not
	// block.
	Answer(questionID string, answer any)
}

// Prompt is one user prompt as the server dispatched it.
type Prompt struct {
	MessageID        string
	Content          string
	Model            string   // may be empty: the agent's default
	ModelPreferences []string // fallbacks, best first
	AuthorID         string
	AuthorEmail      string
	AuthorName       string
	GitName          string // for commit attribution
	GitEmail         string
	Workspace        string // the agent's working directory
	// Persona is the session's persona: instruction files, in their
	// sortOrder, from the server's plugin-content.
	Persona []protocol.PersonaFile
	// AgentSessionID is the agent's own session (or thread) id as the
	// server stored it, or as this runner last set it with
	// Turn.SetAgentSession; empty when the agent has none yet. An adapter
	// resumes it.
	AgentSessionID string
	// PermissionMode is the session's: "ask" makes each edit or command
	// an approval (through Options.Tools); anything else acts without
	// asking.
	PermissionMode string
}

// PermissionAsk is the permission mode in which the agent asks before
// each edit or command.
const PermissionAsk = "ask"

// Turn is how an agent emits one turn's output. Every method may block
// when the runner's unacknowledged buffer is full (backpressure). Methods
// are safe for concurrent use and return an error only when the runner is
// shutting down, the frame cannot be sent at all, or the turn has ended
// (ErrTurnEnded).
type Turn interface {
	// Start creates the assistant message (message.create) and returns
	// its turn id. Text, Tool and Ask call it implicitly.
	Start() (turnID string, err error)
	// Text streams a piece of the reply. Empty deltas are dropped.
	Text(delta string) error
	// Tool reports a tool call's state; call it again with the same
	// CallID as the state changes.
	Tool(ToolCall) error
	// Ask sends a question to the users and returns at once; the answer
	// comes through Agent.Answer. An empty QuestionID is filled in; the
	// id used is returned.
	Ask(Question) (questionID string, err error)
	// SetFinalText sets the finalize frame's finalText. Without it the
	// runner sends the concatenation of the Text deltas.
	SetFinalText(text string)
	// Usage adds token usage (and cost) the agent reported; the sum goes
	// on the assistant message with finalize.
	Usage(protocol.Usage)
	// SetAgentSession reports the agent's own session or thread id, so
	// that the server stores it and a later runner resumes it.
	SetAgentSession(id string) error
	// Call makes an RPC on the session owner's behalf (mem-read, …) and
	// returns the result's fields.
	Call(ctx context.Context, req protocol.RunnerFrame) (map[string]json.RawMessage, error)
}

// Approver is implemented by a Turn whose runner can ask the session's
// owner to approve an edit or command (permissionMode ask): Approve
// blocks until the owner answers, the approval expires (denied, with a
// reason) or ctx ends.
type Approver interface {
	Approve(ctx context.Context, toolName string, args json.RawMessage, diff string) (approved bool, reason string, err error)
}

// ErrTurnEnded is returned by Turn methods called after Agent.Run returned.
var ErrTurnEnded = errors.New("agent: the turn has ended")

// ToolCall is one state of a tool call.
type ToolCall struct {
	CallID   string
	ToolName string
	Status   string          // protocol.ToolPending, ToolRunning, ToolCompleted, ToolError
	Args     json.RawMessage // optional
	Result   json.RawMessage // optional; for completed
	Error    string          // for error
}

// Question is a question for the users, optionally with choices.
type Question struct {
	QuestionID string
	Text       string
	Options    []string
}

// Expired is the answer the server sends when a question expires.
const Expired = "__expired__"

// Options is what a factory gets to build an agent for one runner.
type Options struct {
	// Workspace is the agent's working directory.
	Workspace string
	// StateDir holds the agent's HOME, XDG and CLI state directories,
	// outside the workspace; it survives runner restarts. Empty: a
	// temporary directory owned by the agent.
	StateDir string
	// Bin is the CLI's path; empty: looked up in AgentsDir, then PATH.
	Bin string
	// AgentsDir is where `agentops agents install` puts CLIs.
	AgentsDir string
	// Getenv reads the runner's environment; an adapter passes on only
	// the variables its provider needs. Nil: nothing.
	Getenv func(string) string
	// AllowRoot tells CLIs that refuse to bypass permissions as root that
	// they run sandboxed (--agents-allow-root).
	AllowRoot bool
	// Deadlines bound each turn; zero fields take the defaults.
	Deadlines Deadlines
	// Tools, when set, is the MCP server (`agentops runner mcp`) that
	// gives the agent its memory and ask_user tools; each adapter
	// configures its CLI with it.
	Tools  *ToolServer
	Logger *slog.Logger // nil: discard
}

// ToolServer is how to start the stdio MCP server of agentops' tools.
type ToolServer struct {
	Command string
	Args    []string
	Env     map[string]string // set for the server on top of what the CLI passes
	// CallTimeout is how long the CLI should wait for one tool call
	// (longer than a question's expiry).
	CallTimeout time.Duration
}

// ToolServerName is the MCP server's name in the CLIs' configurations.
const ToolServerName = "agentops"

// Log returns the logger, never nil.
func (o Options) Log() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// Env reads one variable through Getenv.
func (o Options) Env(name string) string {
	if o.Getenv == nil {
		return ""
	}
	return o.Getenv(name)
}

// Deadlines bound a turn: NoProgress ends it when the CLI produced no
// text, tool or step event for that long (retry notices and heartbeats do
// not count), TurnCap ends it after that long whatever happens.
type Deadlines struct {
	NoProgress time.Duration
	TurnCap    time.Duration
	// KillGrace is how long a child gets between SIGTERM and SIGKILL.
	KillGrace time.Duration
	// LastWait, when set, reports when a tool call last waited for a
	// person (an ask_user question; the current time while one waits):
	// the no-progress clock counts from it, so a question does not end
	// the turn.
	LastWait func() time.Time
}

// Default deadlines.
const (
	DefaultNoProgress = 2 * time.Minute
	DefaultTurnCap    = time.Hour
	DefaultKillGrace  = 5 * time.Second
)

// WithDefaults fills zero fields.
func (d Deadlines) WithDefaults() Deadlines {
	if d.NoProgress <= 0 {
		d.NoProgress = DefaultNoProgress
	}
	if d.TurnCap <= 0 {
		d.TurnCap = DefaultTurnCap
	}
	if d.KillGrace <= 0 {
		d.KillGrace = DefaultKillGrace
	}
	return d
}

// ErrRPC is wrapped by the error of a Turn.Call the server answered with
// an error.
var ErrRPC = errors.New("runner: the server refused the request")

// EditDiff renders what an edit tool call would change, for an approval:
// the Claude Code Edit/MultiEdit/Write and OpenCode edit/write argument
// shapes; empty for anything else.
func EditDiff(toolName string, input json.RawMessage) string {
	var a struct {
		FilePath  string `json:"file_path"`
		FilePath2 string `json:"filePath"`
		Old       string `json:"old_string"`
		New       string `json:"new_string"`
		Old2      string `json:"oldString"`
		New2      string `json:"newString"`
		Content   string `json:"content"`
	}
	if json.Unmarshal(input, &a) != nil {
		return ""
	}
	path := a.FilePath + a.FilePath2
	old, nw := a.Old+a.Old2, a.New+a.New2
	var b strings.Builder
	switch {
	case path == "":
		return ""
	case old != "" || nw != "":
		fmt.Fprintf(&b, "--- %s\n+++ %s\n", path, path)
		for _, l := range strings.Split(old, "\n") {
			b.WriteString("-" + l + "\n")
		}
		for _, l := range strings.Split(nw, "\n") {
			b.WriteString("+" + l + "\n")
		}
	case strings.EqualFold(toolName, "write"):
		fmt.Fprintf(&b, "+++ %s\n", path)
		for _, l := range strings.Split(a.Content, "\n") {
			b.WriteString("+" + l + "\n")
		}
	default:
		return ""
	}
	return b.String()
}

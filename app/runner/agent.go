package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/agentops/agentops/app/protocol"
)

// Agent drives one coding agent (the script agent; later OpenCode's HTTP/SSE
// server, Claude Code's and Codex's streaming JSON modes). The runner owns
// the session protocol: sequence numbers, agentStatus, complete, aborted,
// finalize. An agent only turns prompts into assistant output through Turn.
//
// An agent that holds a process or a connection may also implement
// io.Closer; Run closes it on the way out.
type Agent interface {
	// Name is the registry name ("script").
	Name() string
	// Models lists what the agent can run; sent as `models` once per
	// connection. Nil is allowed (nothing discovered yet).
	Models() []protocol.ModelGroup
	// Run runs one turn: the runner calls it for one prompt at a time. It
	// returns nil when the turn ended normally and an error when it
	// failed; when ctx is canceled (abort, shutdown) it should return
	// promptly, with ctx.Err() or any error. The runner finalizes the
	// message after Run returns; out must not be used after that.
	Run(ctx context.Context, p Prompt, out Turn) error
	// Answer delivers the user's answer to a question the agent asked
	// with Turn.Ask. The literal string "__expired__" means the question
	// timed out. It is called from the socket's read loop and must not
	// block (relay to the agent process in the background or hand the
	// answer to the waiting turn).
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
	Workspace        string // the agent's working directory (Config.Workspace)
	// Persona is the session's persona: instruction files, in their
	// sortOrder, from the server's plugin-content (upstream's runner
	// writes them where OpenCode reads instructions).
	Persona []protocol.PersonaFile
}

// Turn is how an agent emits one turn's output. Every method may block
// when the runner's unacknowledged buffer is full (backpressure): the
// agent then simply runs slower. Methods are safe for concurrent use and
// return an error only when the runner is shutting down, the frame cannot
// be sent at all (over protocol.MaxFrameBytes), or the turn has ended.
type Turn interface {
	// Start creates the assistant message (message.create) and returns
	// its turn id. Text, Tool and Ask call it implicitly; call it
	// yourself to create an empty message (before failing, say).
	Start() (turnID string, err error)
	// Text streams a piece of the reply (message.part.text-delta). The
	// first one reports agentStatus streaming. Empty deltas are dropped.
	Text(delta string) error
	// Tool reports a tool call's state (message.part.tool-update); call
	// it again with the same CallID as the state changes. A new call, or
	// one after text, reports agentStatus tool_calling with the tool name.
	Tool(ToolCall) error
	// Ask sends a question to the users and returns at once; the answer
	// comes through Agent.Answer. An empty QuestionID is filled in;
	// the id used is returned.
	Ask(Question) (questionID string, err error)
	// SetFinalText sets the finalize frame's finalText. Without it the
	// runner sends the concatenation of the Text deltas.
	SetFinalText(text string)
	// Call makes an RPC on the session owner's behalf (mem-read,
	// mem-write, mem-patch, mem-rm, mem-search) and returns the result's
	// fields (upstream-runtime.md §2.3). A result carrying an error is
	// returned as an error wrapping ErrRPC. Without a deadline on ctx it
	// gives up after RPCTimeout.
	Call(ctx context.Context, req protocol.RunnerFrame) (map[string]json.RawMessage, error)
}

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

// agents is the registry: name → constructor.
var agents = map[string]func() Agent{
	"script": func() Agent { return NewScriptAgent() },
}

// AgentNames lists the agents NewAgent knows, sorted.
func AgentNames() []string {
	names := make([]string, 0, len(agents))
	for n := range agents {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// NewAgent returns a new agent by registry name.
func NewAgent(name string) (Agent, error) {
	mk, ok := agents[name]
	if !ok {
		return nil, fmt.Errorf("unknown agent %q (known agents: %s)", name, strings.Join(AgentNames(), ", "))
	}
	return mk(), nil
}

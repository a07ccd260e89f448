package runner

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner/agent"
)

// ErrTurnEnded is returned by Turn methods called after Agent.Run returned.
var ErrTurnEnded = agent.ErrTurnEnded

// maxDelta bounds one text-delta frame's text; longer deltas are split so
// that no frame comes near protocol.MaxFrameBytes.
const maxDelta = 64 << 10

// turn is the runner's Turn: it mints the turn id, numbers nothing itself
// (the outbox does), and reports agentStatus changes as output changes
// kind.
type turn struct {
	ctx    context.Context // Run's: emitting ends only with the runner
	r      *runner
	out    *outbox
	rpc    *rpcs
	prompt agent.Prompt

	mu     sync.Mutex
	id     string // set by Start
	status string // the last agentStatus sent for this turn
	detail string
	text   strings.Builder
	final  *string
	usage  *protocol.Usage
	ended  bool
}

var _ agent.Turn = (*turn)(nil)

func (t *turn) emit(f protocol.RunnerFrame) error {
	_, err := t.out.emit(t.ctx, f)
	return err
}

// setStatus sends agentStatus if it differs from the last one. Call with
// mu held.
func (t *turn) setStatus(status, detail string) error {
	if t.status == status && t.detail == detail {
		return nil
	}
	if err := t.emit(protocol.RunnerFrame{
		Type: protocol.RAgentStatus, Status: status, MessageID: t.prompt.MessageID, Detail: detail,
	}); err != nil {
		return err
	}
	t.status, t.detail = status, detail
	return nil
}

// start sends message.create once. Call with mu held.
func (t *turn) start() error {
	if t.ended {
		return ErrTurnEnded
	}
	if t.id != "" {
		return nil
	}
	id := uuid.NewString()
	if err := t.emit(protocol.RunnerFrame{Type: protocol.RMessageCreate, TurnID: id}); err != nil {
		return err
	}
	t.id = id
	return nil
}

func (t *turn) Start() (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.start(); err != nil {
		return "", err
	}
	return t.id, nil
}

func (t *turn) Text(delta string) error {
	if delta == "" {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.start(); err != nil {
		return err
	}
	if err := t.setStatus(protocol.AgentStreaming, ""); err != nil {
		return err
	}
	for rest := delta; rest != ""; {
		piece := rest
		if len(piece) > maxDelta {
			cut := maxDelta
			for cut > 0 && !utf8.RuneStart(rest[cut]) {
				cut--
			}
			if cut == 0 { // not UTF-8 at all: cut anywhere
				cut = maxDelta
			}
			piece = rest[:cut]
		}
		if err := t.emit(protocol.RunnerFrame{Type: protocol.RTextDelta, TurnID: t.id, Delta: piece}); err != nil {
			return err
		}
		t.text.WriteString(piece)
		rest = rest[len(piece):]
	}
	return nil
}

func (t *turn) Tool(c agent.ToolCall) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.start(); err != nil {
		return err
	}
	if err := t.setStatus(protocol.AgentToolCalling, c.ToolName); err != nil {
		return err
	}
	return t.emit(protocol.RunnerFrame{
		Type: protocol.RToolUpdate, TurnID: t.id, CallID: c.CallID, ToolName: c.ToolName,
		Status: c.Status, Args: c.Args, Result: c.Result, Error: c.Error,
	})
}

func (t *turn) Ask(q agent.Question) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.start(); err != nil {
		return "", err
	}
	id := q.QuestionID
	if id == "" {
		id = "q_" + uuid.NewString()
	}
	err := t.emit(protocol.RunnerFrame{
		Type: protocol.RQuestion, MessageID: t.prompt.MessageID, QuestionID: id, Text: q.Text, Options: q.Options,
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

func (t *turn) Call(ctx context.Context, req protocol.RunnerFrame) (map[string]json.RawMessage, error) {
	t.mu.Lock()
	ended := t.ended
	t.mu.Unlock()
	if ended {
		return nil, ErrTurnEnded
	}
	return t.rpc.call(ctx, t.out, req)
}

func (t *turn) SetFinalText(text string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.final = &text
}

func (t *turn) Usage(u protocol.Usage) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.usage == nil {
		t.usage = &protocol.Usage{}
	}
	t.usage.Add(u)
}

// SetAgentSession sends agent-session and remembers the id for the next
// turns of this runner.
func (t *turn) SetAgentSession(id string) error {
	t.mu.Lock()
	ended := t.ended
	t.mu.Unlock()
	if ended {
		return ErrTurnEnded
	}
	if t.r != nil {
		if t.r.currentAgentSession() == id {
			return nil
		}
		t.r.setAgentSession(id)
	}
	return t.emit(protocol.RunnerFrame{Type: protocol.RAgentSession, AgentSessionID: id})
}

// end closes the turn to the agent and returns what finalize needs:
// whether message.create was sent, the turn id, the final text (the
// agent's, else the streamed text; nil when there is none) and usage.
func (t *turn) end() (created bool, id string, finalText *string, usage *protocol.Usage) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ended = true
	finalText = t.final
	if finalText == nil && t.text.Len() > 0 {
		s := t.text.String()
		finalText = &s
	}
	return t.id != "", t.id, finalText, t.usage
}

// Approve implements agent.Approver through the runner's tools bridge.
func (t *turn) Approve(ctx context.Context, toolName string, args json.RawMessage, diff string) (bool, string, error) {
	if t.r == nil || t.r.tools == nil {
		return false, "", errors.New("runner: approvals need the tools socket")
	}
	return t.r.tools.Approve(ctx, toolName, args, diff)
}

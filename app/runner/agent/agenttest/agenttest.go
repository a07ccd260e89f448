// Package agenttest is the contract every agent adapter passes: a turn
// streams text and a tool call; abort ends a turn within a few seconds; a
// failing model ends the turn with an error and the agent stays usable; a
// second turn sees the first (resume), also after the agent was closed
// and built again over the same state.
//
// An adapter's test supplies a Harness: how to build the agent, and
// prompts that make its model (the script agent's directives, or the
// scripted model server in internal/testutil/fakemodel) call a tool,
// stall, fail, and recall the history.
package agenttest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner/agent"
)

// Harness is what the contract needs from an adapter's test.
type Harness struct {
	// New builds the agent. It is called again over the same state to
	// model a runner restart (the previous agent is closed first).
	New func(t *testing.T) agent.Agent
	// ToolPrompt makes the agent call one tool and then answer with text.
	ToolPrompt string
	// AfterTool, if set, checks the tool's effect (a file written, say).
	AfterTool func(t *testing.T, rec *Recorder)
	// SlowPrompt keeps the agent busy until it is aborted.
	SlowPrompt string
	// ToolAbortPrompt, if set, makes the agent run a tool that takes a
	// minute; the turn is aborted while the tool runs.
	ToolAbortPrompt string
	// FailPrompt makes the model fail.
	FailPrompt string
	// RecallPrompt makes the agent answer with what it remembers; the
	// answer (final text) must contain Marker from the first turn, whose
	// prompt is MarkerPrompt.
	MarkerPrompt, Marker, RecallPrompt string
	// TurnTimeout bounds each turn; default 2 minutes.
	TurnTimeout time.Duration
}

// Run runs the contract.
func Run(t *testing.T, h Harness) {
	if h.TurnTimeout <= 0 {
		h.TurnTimeout = 2 * time.Minute
	}
	t.Run("ToolAndText", func(t *testing.T) {
		s := NewSession(t, h)
		rec, err := s.Turn(t, h.ToolPrompt)
		if err != nil {
			t.Fatalf("tool turn: %v", err)
		}
		if len(rec.Calls()) == 0 {
			t.Fatalf("no tool call reported; events %v", rec.Events())
		}
		for _, c := range rec.Calls() {
			if c.ToolName == "" || c.CallID == "" {
				t.Errorf("tool call without name or id: %+v", c)
			}
			if c.Status != protocol.ToolCompleted {
				t.Errorf("tool call %s ended %s (%s)", c.ToolName, c.Status, c.Error)
			}
		}
		if rec.FinalText() == "" {
			t.Errorf("no text after the tool call; events %v", rec.Events())
		}
		if h.AfterTool != nil {
			h.AfterTool(t, rec)
		}
	})
	t.Run("Abort", func(t *testing.T) {
		s := NewSession(t, h)
		ctx, cancel := context.WithCancel(t.Context())
		rec := NewRecorder()
		errc := make(chan error, 1)
		go func() { errc <- s.Agent.Run(ctx, s.prompt(h.SlowPrompt), rec) }()
		select {
		case <-rec.Started():
		case err := <-errc:
			cancel()
			t.Fatalf("slow turn ended before any output: %v", err)
		case <-time.After(h.TurnTimeout):
			cancel()
			t.Fatal("slow turn produced no output")
		}
		start := time.Now()
		cancel()
		select {
		case <-errc:
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("abort took %s", d)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("abort did not end the turn within 15s")
		}
		rec.end()
		// The agent stays usable.
		if _, err := s.Turn(t, h.ToolPrompt); err != nil {
			t.Fatalf("turn after abort: %v", err)
		}
	})
	if h.ToolAbortPrompt != "" {
		t.Run("AbortInToolCall", func(t *testing.T) {
			s := NewSession(t, h)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			rec := NewRecorder()
			errc := make(chan error, 1)
			go func() { errc <- s.Agent.Run(ctx, s.prompt(h.ToolAbortPrompt), rec) }()
			deadline := time.After(h.TurnTimeout)
			for running := false; !running; {
				select {
				case err := <-errc:
					t.Fatalf("turn ended before its tool ran: %v; events %v; calls %+v", err, rec.Events(), rec.Calls())
				case <-deadline:
					t.Fatalf("no running tool call; events %v", rec.Events())
				case <-time.After(50 * time.Millisecond):
				}
				for _, c := range rec.Calls() {
					running = running || c.Status == protocol.ToolRunning
				}
			}
			start := time.Now()
			cancel()
			select {
			case <-errc:
				if d := time.Since(start); d > 10*time.Second {
					t.Errorf("abort took %s", d)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("abort in a tool call did not end the turn within 15s")
			}
			rec.end()
			if _, err := s.Turn(t, h.ToolPrompt); err != nil {
				t.Fatalf("turn after abort: %v", err)
			}
		})
	}
	t.Run("FailingModel", func(t *testing.T) {
		s := NewSession(t, h)
		rec, err := s.Turn(t, h.FailPrompt)
		if err == nil {
			t.Fatalf("a failing model ended the turn without an error; events %v", rec.Events())
		}
		reason, msg := (agent.Ending{Err: err}).Outcome()
		if reason != protocol.FinishError || strings.TrimSpace(msg) == "" {
			t.Fatalf("finalize %q with message %q", reason, msg)
		}
		if _, err := s.Turn(t, h.ToolPrompt); err != nil {
			t.Fatalf("turn after a failure: %v", err)
		}
	})
	t.Run("Resume", func(t *testing.T) {
		s := NewSession(t, h)
		if _, err := s.Turn(t, h.MarkerPrompt); err != nil {
			t.Fatalf("first turn: %v", err)
		}
		rec, err := s.Turn(t, h.RecallPrompt)
		if err != nil {
			t.Fatalf("second turn: %v", err)
		}
		if !strings.Contains(rec.FinalText(), h.Marker) {
			t.Fatalf("second turn does not see the first: %q lacks %q", rec.FinalText(), h.Marker)
		}
		s.Restart(t)
		rec, err = s.Turn(t, h.RecallPrompt)
		if err != nil {
			t.Fatalf("turn after restart: %v", err)
		}
		if !strings.Contains(rec.FinalText(), h.Marker) {
			t.Fatalf("after a restart the turn does not see the first: %q lacks %q", rec.FinalText(), h.Marker)
		}
	})
}

// Session is one agent as a runner holds it: the agent, and the agent
// session id the server would store.
type Session struct {
	h         Harness
	Agent     agent.Agent
	AgentSess string
	n         int
}

// NewSession builds the agent; it is closed when the test ends.
func NewSession(t *testing.T, h Harness) *Session {
	s := &Session{h: h, Agent: h.New(t)}
	t.Cleanup(func() { closeAgent(t, s.Agent) })
	return s
}

func closeAgent(t *testing.T, a agent.Agent) {
	if c, ok := a.(io.Closer); ok {
		if err := c.Close(); err != nil {
			t.Errorf("close %s: %v", a.Name(), err)
		}
	}
}

// Restart closes the agent and builds a new one over the same state.
func (s *Session) Restart(t *testing.T) {
	closeAgent(t, s.Agent)
	s.Agent = s.h.New(t)
	t.Cleanup(func() { closeAgent(t, s.Agent) })
}

func (s *Session) prompt(content string) agent.Prompt {
	s.n++
	return agent.Prompt{MessageID: "m" + string(rune('0'+s.n%10)), Content: content, AgentSessionID: s.AgentSess}
}

// Turn runs one prompt to its end and returns what the agent emitted and
// what Run returned.
func (s *Session) Turn(t *testing.T, content string) (*Recorder, error) {
	t.Helper()
	timeout := s.h.TurnTimeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	rec := NewRecorder()
	err := s.Agent.Run(ctx, s.prompt(content), rec)
	rec.end()
	if id := rec.AgentSession(); id != "" {
		s.AgentSess = id
	}
	if ctx.Err() != nil && t.Context().Err() == nil {
		t.Fatalf("turn %q did not end within %s; events %v", content, timeout, rec.Events())
	}
	return rec, err
}

// Recorder is a Turn that records what an agent emits, without a runner.
type Recorder struct {
	mu      sync.Mutex
	events  []string
	text    strings.Builder
	final   *string
	calls   map[string]agent.ToolCall
	order   []string
	usage   *protocol.Usage
	sess    string
	ended   bool
	started chan struct{}
	once    sync.Once
}

var _ agent.Turn = (*Recorder)(nil)

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	return &Recorder{calls: map[string]agent.ToolCall{}, started: make(chan struct{})}
}

func (r *Recorder) add(e string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return agent.ErrTurnEnded
	}
	r.events = append(r.events, e)
	r.once.Do(func() { close(r.started) })
	return nil
}

func (r *Recorder) end() {
	r.mu.Lock()
	r.ended = true
	r.mu.Unlock()
}

// Started is closed at the first output.
func (r *Recorder) Started() <-chan struct{} { return r.started }

func (r *Recorder) Start() (string, error) { return "turn", r.add("start") }

func (r *Recorder) Text(d string) error {
	if d == "" {
		return nil
	}
	if err := r.add("text"); err != nil {
		return err
	}
	r.mu.Lock()
	r.text.WriteString(d)
	r.mu.Unlock()
	return nil
}

func (r *Recorder) Tool(c agent.ToolCall) error {
	if err := r.add("tool:" + c.ToolName + ":" + c.Status); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.calls[c.CallID]; !ok {
		r.order = append(r.order, c.CallID)
	}
	r.calls[c.CallID] = c
	return nil
}

func (r *Recorder) Ask(q agent.Question) (string, error) {
	return q.QuestionID, r.add("ask")
}

func (r *Recorder) SetFinalText(s string) {
	r.mu.Lock()
	r.final = &s
	r.mu.Unlock()
}

func (r *Recorder) Usage(u protocol.Usage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.usage == nil {
		r.usage = &protocol.Usage{}
	}
	r.usage.Add(u)
}

func (r *Recorder) SetAgentSession(id string) error {
	if err := r.add("session"); err != nil {
		return err
	}
	r.mu.Lock()
	r.sess = id
	r.mu.Unlock()
	return nil
}

func (r *Recorder) Call(context.Context, protocol.RunnerFrame) (map[string]json.RawMessage, error) {
	return nil, errors.New("agenttest: no server for RPCs")
}

// Events lists what was emitted, in order ("text", "tool:NAME:STATUS", …).
func (r *Recorder) Events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// StreamedText is the concatenation of the Text deltas.
func (r *Recorder) StreamedText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.text.String()
}

// FinalText is what finalize would carry: SetFinalText's, else the
// streamed text.
func (r *Recorder) FinalText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.final != nil {
		return *r.final
	}
	return r.text.String()
}

// Calls lists the tool calls in the order they began, each in its last
// state.
func (r *Recorder) Calls() []agent.ToolCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]agent.ToolCall, 0, len(r.order))
	for _, id := range r.order {
		out = append(out, r.calls[id])
	}
	return out
}

// UsageTotal is the summed usage, nil when none was reported.
func (r *Recorder) UsageTotal() *protocol.Usage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.usage
}

// AgentSession is the id the agent reported, if any.
func (r *Recorder) AgentSession() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sess
}

package runner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner/agent"
)

// cmdKind is what a command asks the executor to do.
type cmdKind int

const (
	cmdPrompt       cmdKind = iota // run (or queue) a prompt
	cmdAbort                       // cancel the running turn; always acked with aborted
	cmdConnected                   // a connection got its init: ready signal, models
	cmdTurnDone                    // the agent returned from a turn
	cmdWorkflow                    // run (or queue) a workflow-execute
	cmdWorkflowDone                // a workflow run ended
	cmdRepo                        // repo-config: set the workspace up (before the ready signal)
	cmdDiff                        // the server asks for the workspace's diff
	cmdGitReport                   // report the git state and changed files
	cmdGitOp                       // the server asks for a commit or a push
)

type command struct {
	kind   cmdKind
	prompt agent.Prompt // cmdPrompt
	turn   *turn        // cmdTurnDone
	err    error        // cmdTurnDone: what Agent.Run returned

	workflow *protocol.WorkflowDispatch // cmdWorkflow, cmdWorkflowDone
	envelope protocol.WorkflowEnvelope  // cmdWorkflowDone
	persona  []protocol.PersonaFile     // cmdWorkflow: the persona when it arrived

	repo      repoSetup // cmdRepo
	requestID string    // cmdDiff
	path      string    // cmdDiff

	gitOp *protocol.ServerFrame // cmdGitOp
}

// mailbox is an unbounded command queue: posting never blocks, so the
// socket's read loop (which also delivers acks) is never held up by an
// executor that waits for buffer space.
type mailbox struct {
	mu    sync.Mutex
	items []command
	wake  chan struct{} // capacity 1: "there is something to take"
}

func newMailbox() *mailbox { return &mailbox{wake: make(chan struct{}, 1)} }

func (m *mailbox) post(c command) {
	m.mu.Lock()
	m.items = append(m.items, c)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *mailbox) take() []command {
	m.mu.Lock()
	defer m.mu.Unlock()
	items := m.items
	m.items = nil
	return items
}

// executor owns the turn state: the running turn, the prompts waiting for
// it, and the aborts it owes an answer. It lives for the whole Run, across
// connections; only execLoop touches it.
type executor struct {
	r          *runner
	queue      []agent.Prompt
	cur        *turn
	cancelTurn context.CancelFunc
	aborts     int // abort frames received during cur
	// readyOwed: a connection came up while a turn was running, so its
	// ready signal (agentStatus idle without messageId) is sent when the
	// turn ends.
	readyOwed bool
	wg        sync.WaitGroup

	// wf is the workflow run in progress (one at a time, never beside a
	// turn); wfQueue the dispatches waiting for it.
	wf      *wfState
	wfQueue []queuedWorkflow

	git gitWorkspace
}

// queuedWorkflow is a workflow-execute waiting to run, with the persona
// its agent steps use.
type queuedWorkflow struct {
	d       protocol.WorkflowDispatch
	persona []protocol.PersonaFile
}

// wfState is a workflow run in progress.
type wfState struct {
	d      protocol.WorkflowDispatch
	cancel context.CancelFunc
}

// execLoop serves the mailbox until ctx ends, then cancels the running
// turn and waits for the agent to return.
func (r *runner) execLoop(ctx context.Context) {
	e := &executor{r: r}
	defer func() {
		if e.cancelTurn != nil {
			e.cancelTurn()
		}
		if e.wf != nil {
			e.wf.cancel()
		}
		e.wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.inbox.wake:
		}
		for _, c := range r.inbox.take() {
			if err := e.handle(ctx, c); err != nil {
				if ctx.Err() != nil {
					return
				}
				r.log.Error("runner frame not sent", "err", err)
			}
		}
	}
}

func (e *executor) emit(ctx context.Context, f protocol.RunnerFrame) error {
	_, err := e.r.out.emit(ctx, f)
	return err
}

func (e *executor) status(ctx context.Context, status, messageID string) error {
	return e.emit(ctx, protocol.RunnerFrame{Type: protocol.RAgentStatus, Status: status, MessageID: messageID})
}

func (e *executor) handle(ctx context.Context, c command) error {
	switch c.kind {
	case cmdPrompt:
		if e.known(c.prompt.MessageID) {
			// A re-dispatch of a prompt already in hand (a server that
			// reverted it to queued across a reconnect) must not run twice.
			e.r.log.Warn("ignoring a duplicate prompt", "message_id", c.prompt.MessageID)
			return nil
		}
		e.queue = append(e.queue, c.prompt)
		if e.cur != nil {
			e.r.log.Warn("prompt while a turn is running; queued", "message_id", c.prompt.MessageID, "queued", len(e.queue))
		}
		return e.startNext(ctx)
	case cmdAbort:
		if e.cur != nil {
			e.aborts++
			e.cancelTurn()
			return nil
		}
		if e.wf != nil {
			e.aborts++
			e.wf.cancel()
			return nil
		}
		// Upstream always acknowledges an abort, busy or not.
		if err := e.emit(ctx, protocol.RunnerFrame{Type: protocol.RAborted}); err != nil {
			return err
		}
		return e.status(ctx, protocol.AgentIdle, "")
	case cmdConnected:
		// The ready signal: the server dispatches nothing before it.
		if e.cur != nil || e.wf != nil {
			e.readyOwed = true
		} else if err := e.status(ctx, protocol.AgentIdle, ""); err != nil {
			return err
		}
		if models := e.r.cfg.Agent.Models(); len(models) > 0 {
			return e.emit(ctx, protocol.RunnerFrame{Type: protocol.RModels, Models: models})
		}
		return nil
	case cmdRepo:
		return e.setUpWorkspace(ctx, c.repo)
	case cmdDiff:
		e.diff(ctx, c.requestID, c.path)
		return nil
	case cmdGitReport:
		return e.reportGit(ctx)
	case cmdGitOp:
		return e.gitOp(ctx, c.gitOp)
	case cmdTurnDone:
		err := e.finish(ctx, c.turn, c.err)
		if err == nil {
			err = e.reportGit(ctx)
		}
		if err == nil && e.readyOwed {
			e.readyOwed = false
			err = e.status(ctx, protocol.AgentIdle, "")
		}
		if ctx.Err() != nil {
			return err
		}
		return errors.Join(err, e.startNext(ctx))
	case cmdWorkflow:
		return e.queueWorkflow(ctx, queuedWorkflow{d: *c.workflow, persona: c.persona})
	case cmdWorkflowDone:
		err := e.finishWorkflow(ctx, c.envelope)
		if ctx.Err() != nil {
			return err
		}
		return errors.Join(err, e.startNext(ctx))
	}
	return nil
}

// known reports whether the prompt is running or queued.
func (e *executor) known(messageID string) bool {
	if messageID == "" {
		return false
	}
	if e.cur != nil && e.cur.prompt.MessageID == messageID {
		return true
	}
	for _, p := range e.queue {
		if p.MessageID == messageID {
			return true
		}
	}
	return false
}

// startNext starts the next queued prompt if no turn is running.
func (e *executor) startNext(ctx context.Context) error {
	if e.cur != nil || e.wf != nil {
		return nil
	}
	if len(e.wfQueue) > 0 {
		e.startWorkflow(ctx)
		return nil
	}
	if len(e.queue) == 0 {
		return nil
	}
	p := e.queue[0]
	e.queue = e.queue[1:]
	p.AgentSessionID = e.r.currentAgentSession()
	if err := e.status(ctx, protocol.AgentThinking, p.MessageID); err != nil {
		return err
	}
	tctx, cancel := context.WithCancel(ctx)
	t := &turn{ctx: ctx, r: e.r, out: e.r.out, rpc: e.r.rpc, prompt: p, status: protocol.AgentThinking}
	e.cur, e.cancelTurn, e.aborts = t, cancel, 0
	e.wg.Go(func() {
		err := runAgent(tctx, e.r.cfg.Agent, p, t)
		e.r.inbox.post(command{kind: cmdTurnDone, turn: t, err: err})
	})
	return nil
}

// queueWorkflow takes a workflow-execute. A dispatch of the run already in
// hand or queued (the same execution and attempt, sent again across a
// reconnect) is ignored, as a duplicate prompt is.
func (e *executor) queueWorkflow(ctx context.Context, q queuedWorkflow) error {
	d := q.d
	same := func(o protocol.WorkflowDispatch) bool {
		return o.ExecutionID == d.ExecutionID && o.Payload.Runtime.Attempt == d.Payload.Runtime.Attempt
	}
	if e.wf != nil && same(e.wf.d) || slices.ContainsFunc(e.wfQueue, func(o queuedWorkflow) bool { return same(o.d) }) {
		e.r.log.Warn("ignoring a duplicate workflow-execute", "execution_id", d.ExecutionID, "attempt", d.Payload.Runtime.Attempt)
		return nil
	}
	e.wfQueue = append(e.wfQueue, q)
	return e.startNext(ctx)
}

// startWorkflow runs the next queued workflow in the background.
func (e *executor) startWorkflow(ctx context.Context) {
	q := e.wfQueue[0]
	e.wfQueue = e.wfQueue[1:]
	d := q.d
	wctx, cancel := context.WithCancel(ctx)
	e.wf, e.aborts = &wfState{d: d, cancel: cancel}, 0
	e.r.log.Info("workflow run starting", "execution_id", d.ExecutionID, "kind", d.Kind, "attempt", d.Payload.Runtime.Attempt)
	e.wg.Go(func() {
		env := runWorkflowSafe(wctx, e.r, d, q.persona)
		e.r.inbox.post(command{kind: cmdWorkflowDone, workflow: &d, envelope: env})
	})
}

// runWorkflowSafe turns a panic in a run into a failed envelope.
func runWorkflowSafe(ctx context.Context, r *runner, d protocol.WorkflowDispatch, persona []protocol.PersonaFile) (env protocol.WorkflowEnvelope) {
	defer func() {
		if v := recover(); v != nil {
			msg := fmt.Sprintf("workflow run panicked: %v", v)
			env = protocol.WorkflowEnvelope{ExecutionID: d.ExecutionID, Status: protocol.EnvelopeFailed, Output: map[string]any{},
				Steps: []protocol.WorkflowStepResult{}, Error: &msg}
		}
	}()
	return runWorkflow(ctx, r, d, persona)
}

// finishWorkflow reports a run's envelope, then the aborts it owes and
// the ready signal a reconnect during the run deferred.
func (e *executor) finishWorkflow(ctx context.Context, env protocol.WorkflowEnvelope) error {
	e.wf.cancel()
	e.wf = nil
	aborts := e.aborts
	e.aborts = 0
	e.r.log.Info("workflow run ended", "execution_id", env.ExecutionID, "status", env.Status)
	if err := e.emit(ctx, resultFrame(env)); err != nil {
		return err
	}
	for range aborts {
		if err := e.emit(ctx, protocol.RunnerFrame{Type: protocol.RAborted}); err != nil {
			return err
		}
	}
	if e.readyOwed {
		e.readyOwed = false
		return e.status(ctx, protocol.AgentIdle, "")
	}
	return nil
}

// runAgent calls Agent.Run, turning a panic into a failed turn.
func runAgent(ctx context.Context, a agent.Agent, p agent.Prompt, t *turn) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("agent %s panicked: %v", a.Name(), v)
		}
	}()
	return a.Run(ctx, p, t)
}

// finish ends a turn on the wire (upstream §2.5):
//   - ended normally: finalize end_turn → complete → idle;
//   - failed: finalize error → error → complete → idle;
//   - aborted: finalize canceled → aborted (one per abort) → idle, whatever
//     the agent returned, so an abort always ends the turn the same way.
//
// finalize is sent only if the agent created the message.
func (e *executor) finish(ctx context.Context, t *turn, runErr error) error {
	e.cancelTurn()
	e.cur, e.cancelTurn = nil, nil
	aborts := e.aborts
	e.aborts = 0
	created, turnID, finalText, usage := t.end()
	m := t.prompt.MessageID
	ending := agent.Ending{Canceled: aborts > 0, Err: runErr}
	_, msg := ending.Outcome()

	finalize := func() error {
		if !created {
			return nil
		}
		f := agent.FinalizeFrame(turnID, ending, finalText, usage)
		err := e.emit(ctx, f)
		if errors.Is(err, ErrFrameTooLarge) {
			// finalText only repairs what was streamed: without it the
			// server keeps the deltas it has.
			f.FinalText = nil
			err = e.emit(ctx, f)
		}
		return err
	}
	switch {
	case aborts > 0:
		if err := finalize(); err != nil {
			return err
		}
		for range aborts {
			if err := e.emit(ctx, protocol.RunnerFrame{Type: protocol.RAborted, MessageID: m}); err != nil {
				return err
			}
		}
	case runErr != nil:
		e.r.log.Info("turn failed", "message_id", m, "err", msg)
		if err := finalize(); err != nil {
			return err
		}
		if err := e.emit(ctx, protocol.RunnerFrame{Type: protocol.RError, MessageID: m, Error: msg}); err != nil {
			return err
		}
		if err := e.emit(ctx, protocol.RunnerFrame{Type: protocol.RComplete, MessageID: m}); err != nil {
			return err
		}
	default:
		if err := finalize(); err != nil {
			return err
		}
		if err := e.emit(ctx, protocol.RunnerFrame{Type: protocol.RComplete, MessageID: m}); err != nil {
			return err
		}
	}
	return e.status(ctx, protocol.AgentIdle, m)
}

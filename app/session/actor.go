package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/sandbox"
	"github.com/agentops/agentops/store"
)

// Timer names.
const timerFlush = "flush"

// ackEvery is how many runner frames may wait in memory before the actor
// writes and acknowledges them without waiting for the flush timer (the
// runner buffers at most 10000 unacknowledged frames by default).
const ackEvery = 1000

// actor owns one live session. Every field below mailbox is touched only by
// the goroutine running run.
type actor struct {
	m       *Manager
	id      string
	log     *slog.Logger
	mailbox chan func()
	quit    chan struct{} // closed when run returns

	sess       *store.Session
	tr         *transcript
	queue      []*store.QueuedPrompt // dispatch order: priority desc, seq asc
	queueSeq   int64
	runner     runnerLink
	hub        *hub
	timers     *timers
	pendingSeq int64 // highest runner seq applied in memory (>= sess.RunnerSeq)
	users      map[string]*store.User
	owner      *store.User
	questions  map[string]*store.InteractivePrompt // by question id
	// savedActive is the last_active_at the database has; commits write
	// the newer one along (activity is frequent, so it is not written alone).
	savedActive time.Time
	stopped     bool
}

func newActor(ctx context.Context, m *Manager, sess *store.Session) (*actor, error) {
	a := &actor{
		m: m, id: sess.ID, log: m.log.With("session_id", sess.ID),
		mailbox: make(chan func(), m.cfg.MailboxSize), quit: make(chan struct{}),
		hub: newHub(), timers: newTimers(), users: map[string]*store.User{}, questions: map[string]*store.InteractivePrompt{},
	}
	if err := a.load(ctx, sess); err != nil {
		return nil, err
	}
	return a, nil
}

// load reads the session's durable state: the row, the queue, the message
// sequence and unfinished turns (so replayed runner frames continue them).
func (a *actor) load(ctx context.Context, sess *store.Session) error {
	st := a.m.st
	maxSeq, err := st.Messages().MaxSeq(ctx, sess.ID)
	if err != nil {
		return err
	}
	a.sess = sess
	a.pendingSeq = sess.RunnerSeq
	a.tr = newTranscript(sess.ID, maxSeq)
	q, err := st.PromptQueue().List(ctx, sess.ID)
	if err != nil {
		return err
	}
	a.queue = a.queue[:0]
	for i := range q {
		a.queue = append(a.queue, &q[i])
	}
	if a.queueSeq, err = st.PromptQueue().MaxSeq(ctx, sess.ID); err != nil {
		return err
	}
	// Turns a restart interrupted are among the last few.
	msgs, err := st.Messages().LastAssistant(ctx, sess.ID, 5)
	if err != nil {
		return err
	}
	for i := range msgs {
		if m := &msgs[i]; !finished(m.Parts) {
			a.tr.resume(m)
		}
	}
	qs, err := st.InteractivePrompts().List(ctx, sess.ID)
	if err != nil {
		return err
	}
	a.questions = map[string]*store.InteractivePrompt{}
	for i := range qs {
		a.questions[qs[i].QuestionID] = &qs[i]
	}
	if a.owner, err = st.Users().Get(ctx, sess.UserID); err != nil {
		return err
	}
	a.users[a.owner.ID] = a.owner
	a.savedActive = sess.LastActiveAt
	a.armAll()
	return nil
}

func finished(parts json.RawMessage) bool {
	var ps []protocol.Part
	_ = json.Unmarshal(parts, &ps)
	return len(ps) > 0 && ps[len(ps)-1].Type == "finish"
}

// run is the actor loop: one command at a time, and the deadlines.
func (a *actor) run() {
	defer close(a.quit)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for !a.stopped {
		if next, ok := a.timers.next(); ok {
			timer.Reset(max(0, next.Sub(a.m.cfg.Now())))
		} else {
			timer.Stop()
		}
		select {
		case fn := <-a.mailbox:
			fn()
		case <-timer.C:
			a.fireDue()
		case <-a.m.ctx.Done():
			a.shutdown()
			return
		}
	}
}

// do runs fn on the actor and waits for its result.
func (a *actor) do(ctx context.Context, fn func() error) error {
	res := make(chan error, 1)
	select {
	case a.mailbox <- func() { res <- fn() }:
	case <-a.quit:
		return errGone
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-res:
		return err
	case <-a.quit:
		return errGone
	case <-ctx.Done():
		return ctx.Err()
	}
}

// post queues fn without waiting for it to run; it waits for room in the
// mailbox, so a fast socket is slowed down rather than dropped.
func (a *actor) post(fn func()) {
	select {
	case a.mailbox <- fn:
	case <-a.quit:
	}
}

// fireDue runs the deadlines that are due.
func (a *actor) fireDue() {
	for _, name := range a.timers.due(a.m.cfg.Now()) {
		if a.stopped {
			return
		}
		a.fire(name)
	}
}

// shutdown is the server going away: sockets close with 1001 so that
// clients and runners reconnect to the next server; what was applied in
// memory is written first.
func (a *actor) shutdown() {
	if err := a.flush(); err != nil {
		a.log.Error("flush at shutdown", "err", err)
	}
	if a.runner.conn != nil {
		a.runner.conn.Close(protocol.CloseGoingAway, "server shutting down")
	}
	for _, c := range a.hub.all() {
		c.Close(protocol.CloseGoingAway, "server shutting down")
	}
}

func (a *actor) now() time.Time { return a.m.now() }

// snapshot is a copy of the session row as the actor knows it.
func (a *actor) snapshot() *store.Session {
	s := *a.sess
	return &s
}

func (a *actor) fillStatus(rs *RuntimeStatus) {
	rs.Status, rs.LifecycleStatus = a.sess.Status, a.sess.Status
	if a.sess.SandboxID != "" {
		id := a.sess.SandboxID // a copy: rs leaves the actor
		rs.SandboxID = &id
	}
	rs.RunnerConnected = a.runner.connected()
	rs.RunnerReady = a.runner.ready
	rs.RunnerBusy = a.sess.RunnerBusy
	rs.QueuedPrompts = a.queuedCount()
	rs.ConnectedClients = a.hub.count()
	rs.ConnectedUsers = a.hub.users()
	if !a.sess.RunningStartedAt.IsZero() {
		s := a.sess.RunningStartedAt.UTC().Format("2006-01-02T15:04:05.000Z")
		rs.RunningStartedAt = &s
	}
	rs.MessageCount = int(a.tr.lastSeq)
}

func (a *actor) queuedCount() int {
	n := 0
	for _, q := range a.queue {
		if q.Status == store.PromptQueued {
			n++
		}
	}
	return n
}

// fail handles a write that did not happen: the actor reloads its durable
// state and drops the runner, which reconnects and replays what was not
// acknowledged.
func (a *actor) fail(what string, err error) {
	a.log.Error(what, "err", err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, gerr := a.m.st.Sessions().Get(ctx, a.id)
	if gerr == nil {
		if lerr := a.load(ctx, sess); lerr != nil {
			a.log.Error("reload session", "err", lerr)
		}
	}
	if a.runner.conn != nil {
		a.runner.conn.Close(protocol.CloseGoingAway, "server error; reconnect")
		a.runner.detach(a.runner.conn)
	}
}

// ---- persistence ----

// commit writes, in one transaction, the given changes, every dirty message
// and the runner's sequence mark; then it acknowledges the runner.
func (a *actor) commit(writes ...func(ctx context.Context, tx *store.Store) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dirty := a.tr.takeDirty()
	seq := a.pendingSeq
	active := a.sess.LastActiveAt
	now := a.now()
	err := a.m.st.InTx(ctx, func(tx *store.Store) error {
		for _, w := range writes {
			if err := w(ctx, tx); err != nil {
				return err
			}
		}
		for _, m := range dirty {
			if err := tx.Messages().UpdateBody(ctx, m); err != nil {
				return err
			}
		}
		var cols []string
		if seq != a.sess.RunnerSeq {
			cols = append(cols, "runner_seq")
		}
		if !active.Equal(a.savedActive) {
			cols = append(cols, "last_active_at")
		}
		if len(cols) > 0 {
			s := *a.sess
			s.RunnerSeq, s.LastActiveAt, s.UpdatedAt = seq, active, now
			if err := tx.Sessions().Update(ctx, &s, cols...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		a.tr.markDirty(dirty)
		return err
	}
	acked := seq != a.sess.RunnerSeq
	a.sess.RunnerSeq = seq
	a.savedActive = active
	a.timers.clear(timerFlush)
	if acked {
		a.runner.send(frame(protocol.ServerFrame{Type: protocol.SAck, Seq: seq}))
	}
	return nil
}

// flush writes what is only in memory (streamed text, the sequence mark).
func (a *actor) flush() error {
	if !a.tr.hasDirty() && a.pendingSeq == a.sess.RunnerSeq && a.sess.LastActiveAt.Equal(a.savedActive) {
		a.timers.clear(timerFlush)
		return nil
	}
	return a.commit()
}

// saveSession writes columns of the session row.
func (a *actor) saveSession(columns ...string) func(ctx context.Context, tx *store.Store) error {
	return func(ctx context.Context, tx *store.Store) error {
		a.sess.UpdatedAt = a.now()
		return tx.Sessions().Update(ctx, a.sess, columns...)
	}
}

// setStatus moves the status machine and persists it.
func (a *actor) setStatus(to string, extra ...string) error {
	if a.sess.Status == to {
		return nil
	}
	if !CanTransition(a.sess.Status, to) {
		return fmt.Errorf("session %s: %s → %s is not allowed", a.id, a.sess.Status, to)
	}
	prev := a.sess.Status
	a.sess.Status = to
	if err := a.commit(a.saveSession(append([]string{"status"}, extra...)...)); err != nil {
		a.sess.Status = prev
		return err
	}
	a.broadcast(statusFrame(map[string]any{"status": to}))
	a.m.publish(Event{Type: "session.update", SessionID: a.id, UserID: a.sess.UserID, Data: EventData{Status: to}})
	return nil
}

// ---- sockets ----

func (a *actor) broadcast(b []byte) { a.closeSlow(a.hub.broadcast(b)) }

// closeSlow closes browser sockets whose send queue is full.
func (a *actor) closeSlow(slow []Client) {
	for _, c := range slow {
		a.log.Warn("closing a slow browser socket", "conn", c.ID())
		c.Close(protocol.CloseSlowConsumer, "slow consumer: reload the transcript over REST, then reconnect")
		a.removeClient(c)
	}
}

func (a *actor) attachRunner(c Conn) {
	// Write what is in memory first: then the mark told to the runner is
	// exact, and it replays exactly what follows it.
	if err := a.flush(); err != nil {
		// The mark would not match what the transcript holds in memory:
		// the replay would apply twice. Reload what is stored (what was
		// not stored was not acknowledged, and comes again) and let the
		// runner try again.
		a.fail("flush before runner attach", err)
		c.Close(protocol.CloseGoingAway, "server error; reconnect")
		return
	}
	if old := a.runner.attach(c, a.now()); old != nil {
		old.Close(protocol.CloseReplaced, protocol.CloseReasonReplace)
	}
	a.timers.clear(timerRevert)
	a.timers.clear(timerLost)
	a.pendingSeq = a.sess.RunnerSeq
	last := a.sess.RunnerSeq
	c.Send(frame(protocol.ServerFrame{Type: protocol.SInit, SessionID: a.id, LastSeq: &last, Agent: a.sess.Agent}))
	c.Send(frame(protocol.ServerFrame{Type: protocol.SOpencodeConf, Config: json.RawMessage(`{}`)}))
	c.Send(frame(protocol.ServerFrame{Type: protocol.SPluginContent, PluginContent: a.pluginContent()}))
	c.Send([]byte(`{"type":"repo-config","token":null,"gitConfig":{}}`))
	a.broadcast(statusFrame(map[string]any{"runnerConnected": true}))
}

func (a *actor) runnerClosed(c Conn) {
	if !a.runner.detach(c) {
		return // a replaced socket: its close means nothing
	}
	if a.sess.Status == store.StatusRunning || a.sess.Status == store.StatusRestoring {
		a.sess.RunnerLostAt = a.now()
		if err := a.commit(a.saveSession("runner_lost_at")); err != nil {
			a.log.Error("record runner loss", "err", err)
		}
		a.armRunnerLost()
	} else if err := a.flush(); err != nil {
		a.log.Error("flush after runner close", "err", err)
	}
	a.broadcast(statusFrame(map[string]any{"runnerConnected": false, "runnerDisconnected": true, "queuedPrompts": a.queuedCount()}))
}

func (a *actor) runnerExited(err error) {
	a.log.Warn("runner process exited", "err", err)
	a.broadcast(statusFrame(map[string]any{"sandboxRunning": false}))
}

// ---- runner frames ----

func (a *actor) sendRunner(v protocol.ServerFrame) { a.runner.send(frame(v)) }

func (a *actor) onRunnerFrame(c Conn, f *protocol.RunnerFrame) {
	if a.runner.conn == nil || a.runner.conn.ID() != c.ID() {
		return // from a replaced socket
	}
	if f.Seq > 0 && f.Seq <= a.pendingSeq {
		// A replay of something already applied: acknowledge, do nothing.
		if f.Seq <= a.sess.RunnerSeq {
			a.sendRunner(protocol.ServerFrame{Type: protocol.SAck, Seq: a.sess.RunnerSeq})
		}
		return
	}
	if f.Seq > 0 {
		a.pendingSeq = f.Seq
	}
	now := a.now()
	var writes []func(ctx context.Context, tx *store.Store) error
	var after []func()
	persist := protocol.Persisted(f.Type)
	switch f.Type {
	case protocol.RAgentStatus, protocol.RMessageCreate, protocol.RTextDelta, protocol.RToolUpdate, protocol.RMessageFinalize:
		a.touch(now)
	}

	switch f.Type {
	case protocol.RPing:
		a.sendRunner(protocol.ServerFrame{Type: protocol.SPong})
	case protocol.RAgentStatus:
		if f.Status == protocol.AgentIdle && f.MessageID == "" && !a.runner.ready {
			// The ready signal: prompts that were being processed by a
			// runner that went away go back to the queue.
			a.runner.ready = true
			persist = true
			writes = append(writes, a.revertProcessing())
			if !a.sess.RunnerLostAt.IsZero() || a.sess.RunnerRespawns != 0 {
				a.sess.RunnerLostAt, a.sess.RunnerRespawns = time.Time{}, 0
				writes = append(writes, a.saveSession("runner_lost_at", "runner_respawns"))
			}
			after = append(after, func() {
				a.broadcast(statusFrame(map[string]any{"runnerConnected": true, "runnerBusy": a.sess.RunnerBusy}))
				a.drain()
				a.dispatchWorkflow()
			})
		} else if f.Status == protocol.AgentIdle && !a.sess.RunnerBusy && a.queuedCount() > 0 {
			after = append(after, a.drain)
		}
		after = append(after, func() {
			a.broadcast(frame(agentStatusFrame{Type: protocol.CAgentStatus, Status: f.Status, Detail: f.Detail}))
		})
	case protocol.RMessageCreate:
		if f.TurnID == "" {
			a.sendRunner(protocol.ServerFrame{Type: protocol.SError, Message: "message.create needs turnId"})
			return
		}
		tr, created := a.tr.startTurn(f.TurnID, now)
		if created {
			msg := tr.msg
			writes = append(writes, func(ctx context.Context, tx *store.Store) error { return tx.Messages().Insert(ctx, msg) })
			after = append(after, func() { a.broadcast(messageFrame(protocol.CMessage, msg)) })
		}
	case protocol.RTextDelta:
		tr, offset, ok := a.tr.appendText(f.TurnID, f.Delta, now)
		if !ok {
			a.sendRunner(protocol.ServerFrame{Type: protocol.SError, Message: "text-delta for an unknown turn"})
			break
		}
		a.closeSlow(a.hub.broadcastChunk(tr.msg.ID, offset, f.Delta))
	case protocol.RToolUpdate, protocol.RMessageFinalize:
		var tr *turn
		var ok bool
		if f.Type == protocol.RToolUpdate {
			tr, ok = a.tr.toolUpdate(f, now)
		} else {
			tr, ok = a.tr.finalize(f, now)
		}
		if !ok {
			a.sendRunner(protocol.ServerFrame{Type: protocol.SError, Message: f.Type + " for an unknown turn"})
			break
		}
		msg := tr.msg
		after = append(after, func() { a.broadcast(messageFrame(protocol.CMessageUpdated, msg)) })
	case protocol.RComplete, protocol.RAborted:
		writes = append(writes, a.completePrompt(f.MessageID))
		after = append(after, func() {
			a.broadcast(statusFrame(map[string]any{"runnerBusy": a.sess.RunnerBusy, "queuedPrompts": a.queuedCount()}))
			a.drain()
		})
	case protocol.RError:
		text := f.Error
		if text == "" {
			text = "The agent reported an error"
		}
		msg := a.tr.newMessage("", "system", text, []protocol.Part{{Type: "error", Message: text}}, Author{}, now)
		writes = append(writes, func(ctx context.Context, tx *store.Store) error { return tx.Messages().Insert(ctx, msg) })
		after = append(after, func() {
			a.broadcast(frame(errorFrame{Type: protocol.CError, MessageID: f.MessageID, Error: text}))
			a.broadcast(messageFrame(protocol.CMessage, msg))
			a.m.publish(Event{Type: "session.errored", SessionID: a.id, UserID: a.sess.UserID, Data: EventData{Error: text}})
		})
	case protocol.RModels:
		models, _ := json.Marshal(f.Models)
		a.sess.Models = models
		persist = true
		writes = append(writes, a.saveSession("models"))
		after = append(after, func() { a.broadcast(a.modelsFrame()) })
	case protocol.RGitState:
		data, _ := json.Marshal(map[string]any{"branch": f.Branch, "baseBranch": f.BaseBranch, "commitCount": f.CommitCount})
		a.sess.GitState = data
		persist = true
		writes = append(writes, a.saveSession("git_state"))
		after = append(after, func() { a.broadcast(frame(dataFrame{Type: protocol.CGitState, Data: json.RawMessage(data)})) })
	case protocol.RFilesChanged:
		files := f.Files
		if len(files) == 0 {
			files = json.RawMessage("[]")
		}
		a.sess.FilesChanged = files
		persist = true
		writes = append(writes, a.saveSession("files_changed"))
		after = append(after, func() {
			a.broadcast(frame(map[string]any{"type": protocol.CFilesChanged, "files": json.RawMessage(files)}))
		})
	case protocol.RSelfTerminate:
		after = append(after, func() {
			if err := a.terminate("completed"); err != nil {
				a.log.Error("self-terminate", "err", err)
			}
		})
	case protocol.RQuestion:
		if f.QuestionID == "" {
			a.sendRunner(protocol.ServerFrame{Type: protocol.SError, Message: "question needs questionId"})
			break
		}
		q := a.askQuestion(f, now)
		persist = true
		writes = append(writes, func(ctx context.Context, tx *store.Store) error { return tx.InteractivePrompts().Upsert(ctx, q) })
		after = append(after, func() { a.questionAsked(q) })
	case protocol.RWorkflowResult:
		if a.m.workflows == nil || f.Envelope == nil || f.ExecutionID == "" {
			a.sendRunner(protocol.ServerFrame{Type: protocol.SError, Message: "workflow-execution-result needs executionId and envelope"})
			break
		}
		write, then := a.workflowResult(f)
		persist = true
		writes = append(writes, write)
		after = append(after, then)
	case protocol.RConfigApplied, protocol.RRunnerHealth, protocol.RUsageReport, protocol.RAnalyticsEmit, protocol.RReverted,
		protocol.RTitle, protocol.RTunnels, protocol.RScreenshot, protocol.RModelSwitched, protocol.RRepoCloneDone,
		protocol.RAudioTranscript, protocol.RChannelSession, protocol.RCommandResult, protocol.RWaitSubscription:
		// Accepted and ignored, as upstream's essentials list allows.
	default:
		if a.m.cfg.RPCs != nil && f.RequestID != "" && a.m.cfg.RPCs.Handles(f.Type) {
			write, send := a.rpc(f)
			persist = true
			writes = append(writes, write)
			after = append(after, send)
			break
		}
		if f.RequestID != "" {
			a.sendRunner(protocol.ServerFrame{Type: f.Type + "-result", RequestID: f.RequestID,
				Error: fmt.Sprintf("unsupported: %s is not implemented by this server", f.Type)})
		} else {
			a.sendRunner(protocol.ServerFrame{Type: protocol.SError, Message: "unknown frame type " + f.Type})
		}
	}

	if persist {
		if err := a.commit(writes...); err != nil {
			a.fail("persist runner frame "+f.Type, err)
			return
		}
	} else if a.pendingSeq-a.sess.RunnerSeq >= ackEvery {
		// A long stream: write and acknowledge now, before the runner's
		// buffer of unacknowledged frames fills up and it has to wait.
		if err := a.flush(); err != nil {
			a.fail("flush streamed text", err)
			return
		}
	} else if a.pendingSeq != a.sess.RunnerSeq || a.tr.hasDirty() {
		a.timers.setIfEarlier(timerFlush, a.m.cfg.Now().Add(a.m.cfg.FlushInterval))
	}
	for _, fn := range after {
		fn()
	}
}

func (a *actor) modelsFrame() []byte {
	models := json.RawMessage("[]")
	if len(a.sess.Models) > 0 {
		models = a.sess.Models
	}
	return frame(map[string]any{"type": protocol.CModels, "models": models, "defaultModel": nil})
}

// ---- the prompt queue ----

func (a *actor) sortQueue() {
	sort.SliceStable(a.queue, func(i, j int) bool {
		if a.queue[i].Priority != a.queue[j].Priority {
			return a.queue[i].Priority > a.queue[j].Priority
		}
		return a.queue[i].Seq < a.queue[j].Seq
	})
}

// revertProcessing puts prompts the runner was processing back in the queue.
func (a *actor) revertProcessing() func(ctx context.Context, tx *store.Store) error {
	reverted := false
	for _, q := range a.queue {
		if q.Status == store.PromptProcessing {
			q.Status = store.PromptQueued
			reverted = true
		}
	}
	busy := a.sess.RunnerBusy
	a.sess.RunnerBusy = false
	return func(ctx context.Context, tx *store.Store) error {
		if reverted {
			if _, err := tx.PromptQueue().RevertProcessing(ctx, a.id); err != nil {
				return err
			}
		}
		if busy {
			return a.saveSession("runner_busy")(ctx, tx)
		}
		return nil
	}
}

// completePrompt ends the prompt the runner finished (every processing
// prompt when it names none) and clears busy.
func (a *actor) completePrompt(messageID string) func(ctx context.Context, tx *store.Store) error {
	var done []string
	kept := a.queue[:0]
	for _, q := range a.queue {
		if q.Status == store.PromptProcessing && (messageID == "" || q.ID == messageID) {
			done = append(done, q.ID)
			continue
		}
		kept = append(kept, q)
	}
	a.queue = kept
	a.sess.RunnerBusy = false
	return func(ctx context.Context, tx *store.Store) error {
		for _, id := range done {
			if err := tx.PromptQueue().Delete(ctx, id); err != nil {
				return err
			}
		}
		return a.saveSession("runner_busy")(ctx, tx)
	}
}

func (a *actor) pendingFrame() []byte {
	for _, q := range a.queue {
		if q.Status == store.PromptQueued {
			return frame(dataFrame{Type: protocol.CQueueState, Data: map[string]any{
				"pending": map[string]any{"messageId": q.ID, "content": q.Content}}})
		}
	}
	return frame(dataFrame{Type: protocol.CQueueState, Data: map[string]any{"pending": nil}})
}

// submitPrompt takes a user prompt in the session's (or the prompt's)
// queue mode:
//   - followup: dispatched now when the runner is ready and idle, otherwise
//     it takes the one pending slot (the newest prompt wins; the one it
//     replaces is withdrawn);
//   - steer: the running turn is aborted and the prompt jumps the queue
//     (the pending followup stays behind it);
//   - collect: the user message is written at once and the prompt waits
//     for the debounce; prompts collected together are sent as one.
func (a *actor) submitPrompt(in PromptInput) error {
	if store.IsTerminal(a.sess.Status) {
		return ErrNotActive
	}
	mode := in.Mode
	if mode == "" {
		mode = a.sess.QueueMode
	}
	if in.Interrupt {
		mode = ModeSteer
		if in.Content == "" { // interrupt alone: abort the turn
			if a.sess.RunnerBusy {
				a.sendRunner(protocol.ServerFrame{Type: protocol.SAbort})
			}
			return nil
		}
	}
	if mode != ModeFollowup && mode != ModeSteer && mode != ModeCollect {
		return apperr.Invalid("queueMode", "queueMode must be followup, steer or collect")
	}
	if in.Content == "" {
		return apperr.Invalid("content", "content is required")
	}
	if len(in.Content) > MaxPromptBytes {
		return apperr.Invalid("content", "content must be at most %d bytes", MaxPromptBytes)
	}
	now := a.now()
	a.touch(now)
	a.queueSeq++
	q := &store.QueuedPrompt{ID: uuid.NewString(), SessionID: a.id, Seq: a.queueSeq, Status: store.PromptQueued,
		Content: in.Content, Model: in.Model, AuthorID: in.Author.ID, AuthorEmail: in.Author.Email,
		AuthorName: in.Author.Name, CreatedAt: now}
	switch mode {
	case ModeCollect:
		return a.collect(q)
	case ModeSteer:
		q.Priority = 1
		if a.sess.RunnerBusy {
			a.sendRunner(protocol.ServerFrame{Type: protocol.SAbort})
		}
	}
	return a.enqueue(q, q.Priority == 0)
}

// canDispatch reports whether a prompt can go to the runner now.
func (a *actor) canDispatch() bool {
	return a.runner.connected() && a.runner.ready && !a.sess.RunnerBusy && a.sess.Status == store.StatusRunning
}

// enqueue dispatches q now if it can go first, else queues it; followups
// take the single pending slot.
// also are more writes for the same transaction (a queue change that must
// not be stored without this prompt).
func (a *actor) enqueue(q *store.QueuedPrompt, singleSlot bool, also ...func(ctx context.Context, tx *store.Store) error) error {
	if a.canDispatch() && a.queuedCount() == 0 {
		return a.dispatch(q, true, also...)
	}
	var withdrawn []*store.QueuedPrompt
	if singleSlot {
		kept := a.queue[:0]
		for _, e := range a.queue {
			if e.Status == store.PromptQueued && e.Priority == 0 {
				withdrawn = append(withdrawn, e)
				continue
			}
			kept = append(kept, e)
		}
		a.queue = kept
	}
	a.queue = append(a.queue, q)
	a.sortQueue()
	err := a.commit(func(ctx context.Context, tx *store.Store) error {
		for _, w := range also {
			if err := w(ctx, tx); err != nil {
				return err
			}
		}
		for _, w := range withdrawn {
			if err := tx.PromptQueue().Delete(ctx, w.ID); err != nil {
				return err
			}
		}
		return tx.PromptQueue().Insert(ctx, q)
	})
	if err != nil {
		a.fail("queue prompt", err)
		return err
	}
	for _, w := range withdrawn {
		a.broadcastWithdrawn(w)
	}
	reason := "busy"
	if a.sess.Status != store.StatusRunning {
		reason = "waking"
	}
	a.broadcast(a.pendingFrame())
	a.broadcast(statusFrame(map[string]any{"promptQueued": true, "queuePosition": a.queuePosition(q.ID), "queueReason": reason}))
	a.armIdleQueue()
	if a.sess.Status == store.StatusHibernated {
		if err := a.wake(); err != nil {
			a.log.Error("wake for a prompt", "err", err)
		}
	} else {
		a.drain()
	}
	return nil
}

func (a *actor) queuePosition(id string) int {
	pos := 0
	for _, e := range a.queue {
		if e.Status == store.PromptQueued {
			pos++
			if e.ID == id {
				return pos
			}
		}
	}
	return pos
}

func (a *actor) broadcastWithdrawn(w *store.QueuedPrompt) {
	a.broadcast(frame(dataFrame{Type: protocol.CQueueWithdrawn, Data: map[string]any{"messageId": w.ID, "content": w.Content}}))
}

// dispatch writes the user message, marks the prompt processing and sends
// it to the runner.
func (a *actor) dispatch(q *store.QueuedPrompt, isNew bool, also ...func(ctx context.Context, tx *store.Store) error) error {
	now := a.now()
	var msg *store.Message
	if !q.TranscriptWritten {
		msg = a.tr.newMessage(q.ID, "user", q.Content, []protocol.Part{{Type: "text", Text: q.Content}},
			Author{ID: q.AuthorID, Email: q.AuthorEmail, Name: q.AuthorName}, now)
	}
	q.Status = store.PromptProcessing
	a.sess.LastDispatchedAt = now
	a.timers.set(timerStuck, now.Add(a.m.cfg.Timings.StuckProcessing))
	if isNew {
		a.queue = append(a.queue, q)
		a.sortQueue()
	}
	a.sess.RunnerBusy = true
	err := a.commit(func(ctx context.Context, tx *store.Store) error {
		for _, w := range also {
			if err := w(ctx, tx); err != nil {
				return err
			}
		}
		if msg != nil {
			if err := tx.Messages().Insert(ctx, msg); err != nil {
				return err
			}
		}
		if isNew {
			if err := tx.PromptQueue().Insert(ctx, q); err != nil {
				return err
			}
		} else if err := tx.PromptQueue().SetStatus(ctx, q.ID, store.PromptProcessing); err != nil {
			return err
		}
		return a.saveSession("runner_busy", "last_active_at", "last_dispatched_at")(ctx, tx)
	})
	if err != nil {
		a.fail("dispatch prompt", err)
		return err
	}
	if msg != nil {
		a.broadcast(messageFrame(protocol.CMessage, msg))
	}
	a.broadcast(statusFrame(map[string]any{"runnerBusy": true}))
	user := a.users[q.AuthorID]
	pf := protocol.ServerFrame{Type: protocol.SPrompt, MessageID: q.ID, Content: q.Content, Model: q.Model,
		AuthorID: q.AuthorID, AuthorEmail: q.AuthorEmail, AuthorName: q.AuthorName}
	if user != nil {
		pf.GitName, pf.GitEmail, pf.ModelPrefs = user.GitName, user.GitEmail, user.ModelPreferences
	}
	if !a.runner.send(frame(pf)) {
		// No runner after all: back to the queue; the next ready drains it.
		_ = a.commit(a.revertProcessing())
	}
	return nil
}

// drain dispatches the next queued prompt if the runner is ready and idle.
func (a *actor) drain() {
	if !a.runner.connected() || !a.runner.ready || a.sess.RunnerBusy || a.sess.Status != store.StatusRunning {
		return
	}
	for _, q := range a.queue {
		if q.Status != store.PromptQueued {
			continue
		}
		if err := a.dispatch(q, false); err != nil {
			return
		}
		a.broadcast(a.pendingFrame())
		a.broadcast(statusFrame(map[string]any{"promptDequeued": true, "remaining": a.queuedCount()}))
		return
	}
}

// ---- lifecycle ----

func (a *actor) spawnRequest(ctx context.Context, token string) (sandbox.SpawnRequest, error) {
	req := sandbox.SpawnRequest{SessionID: a.id, UserID: a.sess.UserID, ServerURL: a.m.cfg.RunnerURL, Token: token, Agent: a.sess.Agent}
	if a.m.cfg.Credentials != nil {
		env, err := a.m.cfg.Credentials.CredentialsEnv(ctx, a.sess.UserID)
		if err != nil {
			return req, err
		}
		req.Env = env
	}
	return req, nil
}

// spawn starts the sandbox of a new session (or restores a hibernated one).
func (a *actor) spawn(token string, restore bool) (sandbox.Sandbox, error) {
	if a.m.sandbox == nil {
		return sandbox.Sandbox{}, errors.New("no sandbox provider")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var sb sandbox.Sandbox
	req, err := a.spawnRequest(ctx, token)
	switch {
	case err != nil:
	case restore:
		sb, err = a.m.sandbox.Restore(ctx, req)
	default:
		sb, err = a.m.sandbox.Spawn(ctx, req)
	}
	if err != nil {
		a.sess.ErrorMessage = "sandbox failed to start: " + err.Error()
		if serr := a.setStatus(store.StatusError, "error_message"); serr != nil {
			a.log.Error("record sandbox failure", "err", serr)
		}
		a.m.publish(Event{Type: "session.errored", SessionID: a.id, UserID: a.sess.UserID, Data: EventData{Error: a.sess.ErrorMessage}})
		a.stopped = true
		return sb, &apperr.Error{Kind: apperr.KindUnavailable, Message: a.sess.ErrorMessage, Err: err}
	}
	a.sess.SandboxID = sb.ID
	a.sess.RunnerTokenHash = hashToken(token)
	a.sess.RunningStartedAt = a.now()
	if err := a.setStatus(store.StatusRunning, "sandbox_id", "runner_token_hash", "running_started_at"); err != nil {
		return sb, err
	}
	return sb, nil
}

func (a *actor) hibernate() error {
	switch a.sess.Status {
	case store.StatusHibernated, store.StatusHibernating:
		return nil
	case store.StatusRunning:
	default:
		return ErrNotActive
	}
	if err := a.setStatus(store.StatusHibernating); err != nil {
		return err
	}
	if err := a.flush(); err != nil {
		return err
	}
	a.sendRunner(protocol.ServerFrame{Type: protocol.SStop})
	if a.runner.conn != nil {
		a.runner.conn.Close(protocol.CloseNormal, "Session hibernated")
		a.runner.detach(a.runner.conn)
	}
	return a.completeHibernate()
}

// completeHibernate stops the sandbox of a hibernating session and marks
// it hibernated (waking it again if prompts wait). A restart in the middle
// of a hibernation finishes it here (finishInterrupted).
func (a *actor) completeHibernate() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if a.m.sandbox != nil {
		if err := a.m.sandbox.Hibernate(ctx, a.id); err != nil {
			a.log.Error("hibernate sandbox", "err", err)
		}
	}
	if err := a.commit(a.revertProcessing()); err != nil {
		return err
	}
	a.sess.SandboxID = ""
	if err := a.setStatus(store.StatusHibernated, "sandbox_id"); err != nil {
		return err
	}
	if a.queuedCount() > 0 { // prompts wait: wake right away
		return a.wake()
	}
	return nil
}

// finishInterrupted completes, after a restart, a transition that the
// previous server was cut off in the middle of: a hibernation (the session
// would stay "hibernating", taking prompts it never runs), or the start of
// an interactive session whose sandbox was never spawned (workflow
// sessions are restarted by the workflow reconcile job).
func (a *actor) finishInterrupted() error {
	switch {
	case a.sess.Status == store.StatusHibernating:
		a.log.Info("finishing a hibernation a restart interrupted")
		return a.completeHibernate()
	case a.sess.Status == store.StatusInitializing && a.sess.SandboxID == "" && a.sess.Purpose != store.PurposeWorkflow:
		a.log.Info("starting a session whose start a restart interrupted")
		_, err := a.spawn(newRunnerToken(), false)
		return err
	}
	return nil
}

func (a *actor) wake() error {
	switch a.sess.Status {
	case store.StatusRunning, store.StatusRestoring, store.StatusInitializing:
		return nil
	case store.StatusHibernated:
	default:
		return ErrNotActive
	}
	if err := a.setStatus(store.StatusRestoring); err != nil {
		return err
	}
	_, err := a.spawn(newRunnerToken(), true)
	return err
}

// terminate ends the session: the runner is told to stop, the sandbox is
// stopped, queued prompts are dropped, sockets close.
func (a *actor) terminate(reason string) error {
	if store.IsTerminal(a.sess.Status) {
		a.stopped = true
		return nil
	}
	if err := a.flush(); err != nil {
		a.log.Error("flush before terminate", "err", err)
	}
	a.sendRunner(protocol.ServerFrame{Type: protocol.SStop})
	if a.runner.conn != nil {
		a.runner.conn.Close(protocol.CloseSessionEnded, "Session terminated")
		a.runner.detach(a.runner.conn)
	}
	if a.m.sandbox != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := a.m.sandbox.Terminate(ctx, a.id); err != nil {
			a.log.Error("terminate sandbox", "err", err)
		}
		cancel()
	}
	a.queue = nil
	a.questions = map[string]*store.InteractivePrompt{}
	a.timers = newTimers()
	a.sess.RunnerBusy = false
	a.sess.EndedAt = a.now()
	a.sess.SandboxID = ""
	prev := a.sess.Status
	a.sess.Status = store.StatusTerminated
	err := a.commit(func(ctx context.Context, tx *store.Store) error {
		if _, err := tx.PromptQueue().DeleteAll(ctx, a.id); err != nil {
			return err
		}
		if err := tx.InteractivePrompts().DeleteAll(ctx, a.id); err != nil {
			return err
		}
		return a.saveSession("status", "runner_busy", "ended_at", "sandbox_id")(ctx, tx)
	})
	if err != nil {
		a.sess.Status = prev
		return err
	}
	a.broadcast(statusFrame(map[string]any{"status": store.StatusTerminated, "reason": reason, "runnerConnected": false}))
	for _, c := range a.hub.all() {
		c.Close(protocol.CloseSessionEnded, "Session terminated")
	}
	a.m.publish(Event{Type: "session.completed", SessionID: a.id, UserID: a.sess.UserID, Data: EventData{Status: store.StatusTerminated, Reason: reason}})
	a.stopped = true
	return nil
}

// ---- browsers ----

func (a *actor) attachClient(c Client, u *store.User) {
	a.users[u.ID] = u
	first := a.hub.add(c)
	var pending any
	for _, q := range a.queue {
		if q.Status == store.PromptQueued {
			pending = map[string]any{"messageId": q.ID, "content": q.Content}
			break
		}
	}
	c.Send(frame(map[string]any{
		"type": protocol.CInit,
		"session": map[string]any{"id": a.id, "status": a.sess.Status, "workspace": a.sess.Workspace,
			"title": nullable(a.sess.Title)},
		"data": map[string]any{
			"sandboxRunning": a.sess.Status == store.StatusRunning, "runnerConnected": a.runner.connected(),
			"runnerReady": a.runner.ready,
			"runnerBusy":  a.sess.RunnerBusy, "promptsQueued": a.queuedCount(), "connectedClients": a.hub.count(),
			"connectedUsers": a.hub.users(), "pendingPrompt": pending,
		},
	}))
	c.Send(a.modelsFrame())
	for _, q := range a.sortedQuestions() {
		c.Send(a.questionFrame(q))
	}
	if first {
		a.broadcast(frame(map[string]any{"type": protocol.CUserJoined, "userId": u.ID,
			"userDetails":    map[string]any{"name": nullable(u.Name), "email": u.Email, "avatarUrl": nullable(u.AvatarURL)},
			"connectedUsers": a.connectedUsers()}))
		a.m.publish(Event{Type: "session.update", SessionID: a.id, UserID: a.sess.UserID, Data: EventData{Status: a.sess.Status}})
	}
}

func (a *actor) connectedUsers() []map[string]any {
	out := []map[string]any{}
	for _, id := range a.hub.users() {
		u := a.users[id]
		if u == nil {
			continue
		}
		out = append(out, map[string]any{"id": u.ID, "name": nullable(u.Name), "email": u.Email, "avatarUrl": nullable(u.AvatarURL)})
	}
	return out
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (a *actor) removeClient(c Client) {
	known, last := a.hub.remove(c)
	if !known || !last {
		return
	}
	u := a.users[c.UserID()]
	details := map[string]any{}
	if u != nil {
		details = map[string]any{"name": nullable(u.Name), "email": u.Email, "avatarUrl": nullable(u.AvatarURL)}
	}
	a.broadcast(frame(map[string]any{"type": protocol.CUserLeft, "userId": c.UserID(), "userDetails": details,
		"connectedUsers": a.connectedUsers()}))
}

func (a *actor) clientClosed(c Client) { a.removeClient(c) }

func (a *actor) onClientFrame(c Client, u *store.User, f *clientFrame) {
	author := Author{ID: u.ID, Email: u.Email, Name: u.Name}
	var err error
	switch f.Type {
	case protocol.BPing:
		c.Send(frame(map[string]any{"type": protocol.CPong}))
	case protocol.BPrompt:
		err = a.submitPrompt(PromptInput{Content: f.Content, Model: f.Model, Mode: f.QueueMode, Author: author})
	case protocol.BAbort:
		if a.sess.RunnerBusy {
			a.sendRunner(protocol.ServerFrame{Type: protocol.SAbort})
		}
	case "answer":
		err = a.answerQuestion(f.QuestionID, f.Answer)
	case "revert":
		err = a.revert(f.MessageID)
	case "queue.withdraw":
		_, err = a.withdrawPending()
	case "queue.promote":
		var w *store.QueuedPrompt
		if w, err = a.withdrawPending(); err == nil && w != nil {
			err = a.submitPrompt(PromptInput{Content: w.Content, Model: w.Model, Mode: ModeSteer,
				Author: Author{ID: w.AuthorID, Email: w.AuthorEmail, Name: w.AuthorName}})
		}
	case "queue.replace":
		if _, err = a.withdrawPending(); err == nil {
			err = a.submitPrompt(PromptInput{Content: f.Content, Model: f.Model, Mode: ModeSteer, Author: author})
		}
	default:
		err = apperr.Invalid("type", "unsupported frame type %s", f.Type)
	}
	if err != nil {
		msg := err.Error()
		if e, ok := apperr.As(err); ok {
			msg = e.Message
		}
		c.Send(frame(errorFrame{Type: protocol.CError, Message: msg}))
	}
}

package session

import (
	"context"
	"sort"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/store"
)

func (a *actor) sortQueue() {
	sort.SliceStable(a.queue, func(i, j int) bool {
		if a.queue[i].Priority != a.queue[j].Priority {
			return a.queue[i].Priority > a.queue[j].Priority
		}
		return a.queue[i].Seq < a.queue[j].Seq
	})
}

// Notes on turns a runner left unfinished (see revertProcessing).
const (
	noteCutRequeued = "The runner stopped before this reply was finished; the prompt was put back in the queue and runs again."
	noteCut         = "The runner stopped before this reply was finished."
)

// revertProcessing puts prompts the runner was processing back in the
// queue, and ends the turns it left unfinished (finish reason error, with
// a note): they would otherwise stay streaming for good beside the reply
// of the retried prompt. The cut messages are written by the commit that
// takes write (they are dirty); after tells browsers, once it is stored.
func (a *actor) revertProcessing() (write func(ctx context.Context, tx *store.Store) error, after func()) {
	reverted := false
	for _, q := range a.queue {
		if q.Status == store.PromptProcessing {
			q.Status = store.PromptQueued
			reverted = true
		}
	}
	note := noteCut
	if reverted {
		note = noteCutRequeued
	}
	cut := a.tr.cut(note, a.now())
	after = func() {
		for _, tr := range cut {
			a.broadcast(messageFrame(protocol.CMessageUpdated, tr.msg))
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
	}, after
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
//
// also are more writes for the transaction that stores the prompt.
func (a *actor) submitPrompt(in PromptInput, also ...func(ctx context.Context, tx *store.Store) error) error {
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
		return a.collect(q, also...)
	case ModeSteer:
		q.Priority = 1
		if a.sess.RunnerBusy {
			a.sendRunner(protocol.ServerFrame{Type: protocol.SAbort})
		}
	}
	return a.enqueue(q, q.Priority == 0, also...)
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
		write, after := a.revertProcessing()
		if a.commit(write) == nil {
			after()
		}
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

package session

import (
	"context"
	"strings"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/store"
)

// collectSeparator joins prompts collected together.
const collectSeparator = "\n\n---\n\n"

func (a *actor) collectingCount() int {
	n := 0
	for _, q := range a.queue {
		if q.Status == store.PromptCollecting {
			n++
		}
	}
	return n
}

// collect writes the user message now and holds the prompt until the
// debounce passes without another.
func (a *actor) collect(q *store.QueuedPrompt, also ...func(ctx context.Context, tx *store.Store) error) error {
	now := a.now()
	msg := a.tr.newMessage(q.ID, "user", q.Content, []protocol.Part{{Type: "text", Text: q.Content}},
		Author{ID: q.AuthorID, Email: q.AuthorEmail, Name: q.AuthorName}, now)
	q.Status = store.PromptCollecting
	q.TranscriptWritten = true
	a.queue = append(a.queue, q)
	a.sortQueue()
	if err := a.commit(func(ctx context.Context, tx *store.Store) error {
		for _, w := range also {
			if err := w(ctx, tx); err != nil {
				return err
			}
		}
		if err := tx.Messages().Insert(ctx, msg); err != nil {
			return err
		}
		return tx.PromptQueue().Insert(ctx, q)
	}); err != nil {
		a.fail("collect prompt", err)
		return err
	}
	a.timers.set(timerCollect, a.m.cfg.Now().Add(a.timings().CollectDebounce))
	a.broadcast(messageFrame(protocol.CMessage, msg))
	a.broadcast(statusFrame(map[string]any{"collectPending": true, "collectCount": a.collectingCount()}))
	return nil
}

// flushCollect merges the collected prompts into one queued followup (the
// user messages are written already, so it writes none).
func (a *actor) flushCollect() error {
	var parts []*store.QueuedPrompt
	for _, q := range a.queue {
		if q.Status == store.PromptCollecting {
			parts = append(parts, q)
		}
	}
	if len(parts) == 0 {
		return nil
	}
	texts := make([]string, len(parts))
	for i, p := range parts {
		texts[i] = p.Content
	}
	last := parts[len(parts)-1]
	a.queueSeq++
	merged := &store.QueuedPrompt{ID: last.ID + "-collect", SessionID: a.id, Seq: a.queueSeq, Status: store.PromptQueued,
		Content: strings.Join(texts, collectSeparator), Model: last.Model, AuthorID: last.AuthorID,
		AuthorEmail: last.AuthorEmail, AuthorName: last.AuthorName, TranscriptWritten: true, CreatedAt: a.now()}
	kept := a.queue[:0]
	for _, q := range a.queue {
		if q.Status != store.PromptCollecting {
			kept = append(kept, q)
		}
	}
	a.queue = kept
	// The collected parts go in the transaction that stores the merged
	// prompt: a crash between the two would lose acknowledged prompts.
	err := a.enqueue(merged, true, func(ctx context.Context, tx *store.Store) error {
		for _, p := range parts {
			if err := tx.PromptQueue().Delete(ctx, p.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	a.broadcast(statusFrame(map[string]any{"collectPending": false, "collectCount": 0}))
	return nil
}

// withdrawPending drops the pending followup, if any, and returns it.
func (a *actor) withdrawPending() (*store.QueuedPrompt, error) {
	var w *store.QueuedPrompt
	kept := a.queue[:0]
	for _, q := range a.queue {
		if w == nil && q.Status == store.PromptQueued && q.Priority == 0 {
			w = q
			continue
		}
		kept = append(kept, q)
	}
	a.queue = kept
	if w == nil {
		return nil, nil
	}
	if err := a.commit(func(ctx context.Context, tx *store.Store) error { return tx.PromptQueue().Delete(ctx, w.ID) }); err != nil {
		return nil, err
	}
	a.broadcastWithdrawn(w)
	a.broadcast(a.pendingFrame())
	return w, nil
}

// replacePending withdraws the pending followup, if any, and submits a
// steer prompt in its place: the withdrawn prompt itself when in is nil
// (queue.promote; nothing to do without one), else in (queue.replace).
// Both happen in one transaction: a failed write or a crash leaves the
// pending prompt where it was.
func (a *actor) replacePending(in *PromptInput) error {
	var w *store.QueuedPrompt
	for _, q := range a.queue {
		if q.Status == store.PromptQueued && q.Priority == 0 {
			w = q
			break
		}
	}
	if in == nil {
		if w == nil {
			return nil
		}
		in = &PromptInput{Content: w.Content, Model: w.Model, Author: Author{ID: w.AuthorID, Email: w.AuthorEmail, Name: w.AuthorName}}
	}
	in.Mode = ModeSteer
	var also []func(ctx context.Context, tx *store.Store) error
	if w != nil {
		kept := a.queue[:0]
		for _, q := range a.queue {
			if q != w {
				kept = append(kept, q)
			}
		}
		a.queue = kept
		also = append(also, func(ctx context.Context, tx *store.Store) error { return tx.PromptQueue().Delete(ctx, w.ID) })
	}
	if err := a.submitPrompt(*in, also...); err != nil {
		// Refused before any write (a failed write reloads the queue
		// from the database, which still has w).
		if w != nil && !a.queued(w.ID) {
			a.queue = append(a.queue, w)
			a.sortQueue()
		}
		return err
	}
	if w != nil {
		a.broadcastWithdrawn(w)
		a.broadcast(a.pendingFrame())
	}
	return nil
}

// queued reports whether the queue holds the prompt id.
func (a *actor) queued(id string) bool {
	for _, q := range a.queue {
		if q.ID == id {
			return true
		}
	}
	return false
}

// clearQueue drops every queued (not processing) prompt.
func (a *actor) clearQueue() (int, error) {
	var gone []*store.QueuedPrompt
	kept := a.queue[:0]
	for _, q := range a.queue {
		if q.Status == store.PromptQueued || q.Status == store.PromptCollecting {
			gone = append(gone, q)
			continue
		}
		kept = append(kept, q)
	}
	a.queue = kept
	if len(gone) == 0 {
		return 0, nil
	}
	if err := a.commit(func(ctx context.Context, tx *store.Store) error {
		for _, q := range gone {
			if err := tx.PromptQueue().Delete(ctx, q.ID); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return 0, err
	}
	a.timers.clear(timerCollect)
	for _, q := range gone {
		a.broadcastWithdrawn(q)
	}
	a.broadcast(a.pendingFrame())
	a.broadcast(statusFrame(map[string]any{"queueCleared": true, "cleared": len(gone), "queuedPrompts": 0}))
	return len(gone), nil
}

// revert removes a message and everything after it, and tells the runner.
func (a *actor) revert(messageID string) error {
	if messageID == "" {
		return apperr.Invalid("messageId", "messageId is required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.flush(); err != nil {
		return err
	}
	m, err := a.m.st.Messages().Get(ctx, messageID)
	if err != nil || m.SessionID != a.id {
		return apperr.NotFound("Message")
	}
	var removed []string
	if err := a.commit(func(ctx context.Context, tx *store.Store) error {
		removed, err = tx.Messages().DeleteFrom(ctx, a.id, m.Seq)
		return err
	}); err != nil {
		return err
	}
	gone := map[string]bool{}
	for _, id := range removed {
		gone[id] = true
	}
	for turnID, tr := range a.tr.turns {
		if gone[tr.msg.ID] {
			delete(a.tr.turns, turnID)
			delete(a.tr.dirty, tr.msg.ID)
		}
	}
	a.broadcast(frame(map[string]any{"type": "messages.removed", "messageIds": removed}))
	a.sendRunner(protocol.ServerFrame{Type: protocol.SRevert, MessageID: messageID})
	return nil
}

package session

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/store"
)

// Approvals: in a session whose permissionMode is ask, each edit or
// command the agent wants is an action invocation that waits for its
// owner (upstream-runtime.md §1.8, "approval"). The runner asks with
// approval-request; the invocation is stored before browsers see it, so
// it survives a restart of the server; approve-action, deny-action, the
// REST routes or the expiry resolve it, and the runner gets
// approval-result.

const timerApproval = "approval:" // + invocation id: expiry

// ApprovalTTL's default: an approval nobody answers in 10 minutes is
// denied (upstream's expiry).
const DefaultApprovalTTL = 10 * time.Minute

// ValidPermissionMode checks a permissionMode for an agent: codex's exec
// mode cannot ask before it acts.
func ValidPermissionMode(mode, agentName, purpose string) error {
	switch mode {
	case store.PermissionAuto:
		return nil
	case store.PermissionAsk:
	default:
		return apperr.Invalid("permissionMode", "permissionMode must be auto or ask")
	}
	if purpose == store.PurposeWorkflow {
		return apperr.Invalid("permissionMode", "workflow sessions always run in auto: nobody watches them to approve")
	}
	if agentName == "codex" {
		return apperr.Invalid("permissionMode", "codex cannot ask for approvals (its exec mode has no permission prompts): use auto, or another agent")
	}
	return nil
}

func (a *actor) approvalTTL() time.Duration {
	if t := a.timings().ApprovalTTL; t > 0 {
		return t
	}
	return DefaultApprovalTTL
}

// loadApprovals reads the session's pending approvals (actor start).
func (a *actor) loadApprovals(ctx context.Context, st *store.Store) error {
	ps, err := st.ActionInvocations().Pending(ctx, a.id)
	if err != nil {
		return err
	}
	a.approvals = map[string]*store.ActionInvocation{}
	for i := range ps {
		a.approvals[ps[i].ID] = &ps[i]
	}
	return nil
}

func (a *actor) armApprovals() {
	for id, inv := range a.approvals {
		a.timers.set(timerApproval+id, inv.ExpiresAt)
	}
}

// ApprovalJSON is an action invocation as the API shows it.
func ApprovalJSON(inv *store.ActionInvocation) map[string]any {
	out := map[string]any{"id": inv.ID, "sessionId": inv.SessionID, "toolName": inv.ToolName, "args": inv.Args,
		"status": inv.Status, "expiresAt": isoUTC(inv.ExpiresAt), "createdAt": isoUTC(inv.CreatedAt)}
	if inv.Diff != "" {
		out["diff"] = inv.Diff
	}
	if inv.Reason != "" {
		out["reason"] = inv.Reason
	}
	if inv.ResolvedBy != "" {
		out["resolvedBy"] = inv.ResolvedBy
	}
	if !inv.ResolvedAt.IsZero() {
		out["resolvedAt"] = isoUTC(inv.ResolvedAt)
	}
	return out
}

func isoUTC(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// approvalFrame is upstream's interactive_prompt of type approval: the
// prompt id is the invocation id, its context the invocation.
func (a *actor) approvalFrame(inv *store.ActionInvocation) []byte {
	title := "Allow " + inv.ToolName + "?"
	return frame(map[string]any{"type": "interactive_prompt", "prompt": map[string]any{
		"id": inv.ID, "sessionId": a.id, "type": "approval", "title": title, "body": nullable(inv.Diff),
		"actions":   []map[string]any{{"id": "approve", "label": "Approve"}, {"id": "deny", "label": "Deny"}},
		"expiresAt": inv.ExpiresAt.UnixMilli(), "context": ApprovalJSON(inv),
	}})
}

// approvalRequested takes a runner's approval-request: the write that
// stores it and what to do once stored.
func (a *actor) approvalRequested(f *protocol.RunnerFrame, now time.Time) (write func(ctx context.Context, tx *store.Store) error, then func()) {
	if _, ok := a.approvals[f.InvocationID]; ok { // replayed after a reconnect: still pending
		return nil, func() {}
	}
	if old, err := a.m.st.ActionInvocations().Get(context.Background(), f.InvocationID); err == nil {
		// Replayed after it was resolved: answer it again.
		if old.SessionID != a.id {
			return nil, func() { a.sendApprovalResult(f.InvocationID, false, "invocationId belongs to another session") }
		}
		return nil, func() { a.sendApprovalResult(old.ID, old.Status == store.InvocationApproved, old.Reason) }
	}
	if a.permissionMode() != store.PermissionAsk {
		// The mode changed to auto while the agent asked: let it act.
		return nil, func() { a.sendApprovalResult(f.InvocationID, true, "") }
	}
	args := f.Args
	if len(args) == 0 || !json.Valid(args) {
		args = json.RawMessage("{}")
	}
	inv := &store.ActionInvocation{ID: f.InvocationID, SessionID: a.id, UserID: a.sess.UserID, ToolName: f.ToolName,
		Args: args, Diff: f.Diff, Status: store.InvocationPending, ExpiresAt: now.Add(a.approvalTTL()), CreatedAt: now}
	a.approvals[inv.ID] = inv
	a.timers.set(timerApproval+inv.ID, inv.ExpiresAt)
	return func(ctx context.Context, tx *store.Store) error { return tx.ActionInvocations().Create(ctx, inv) },
		func() {
			a.broadcast(a.approvalFrame(inv))
			a.m.publish(Event{Type: "action.approval_required", SessionID: a.id, UserID: a.sess.UserID,
				Data: EventData{InvocationID: inv.ID, ToolName: inv.ToolName}, OwnerConnected: a.hub.perUser[a.sess.UserID] > 0})
		}
}

func (a *actor) sendApprovalResult(id string, approved bool, reason string) {
	a.sendRunner(protocol.ServerFrame{Type: protocol.SApprovalResult, InvocationID: id, Approved: &approved, Reason: reason})
}

// resolveApproval answers a pending approval (approve or deny, by userID)
// or expires it (status expired, denied to the runner).
func (a *actor) resolveApproval(id, status, reason, userID string) error {
	inv, ok := a.approvals[id]
	if !ok {
		if _, err := a.m.st.ActionInvocations().Get(context.Background(), id); err == nil {
			return apperr.Conflict("This approval was already answered or has expired")
		}
		return apperr.NotFound("Action invocation")
	}
	if status != store.InvocationExpired && !a.runner.connected() {
		// The agent waits for the answer on the runner's socket: answer
		// when it is back (as for questions).
		return apperr.Conflict("The agent is not connected; answer again when it is back")
	}
	now := a.now()
	if status == store.InvocationExpired && reason == "" {
		reason = "Nobody approved it in time"
	}
	if err := a.commit(func(ctx context.Context, tx *store.Store) error {
		return tx.ActionInvocations().Resolve(ctx, id, status, reason, userID, now)
	}); err != nil {
		if errors.Is(err, store.ErrResolved) {
			delete(a.approvals, id)
			return apperr.Conflict("This approval was already answered or has expired")
		}
		return err
	}
	delete(a.approvals, id)
	a.timers.clear(timerApproval + id)
	inv.Status, inv.Reason, inv.ResolvedBy, inv.ResolvedAt = status, reason, userID, now
	approved := status == store.InvocationApproved
	a.sendApprovalResult(id, approved, reason)
	ctxJSON := ApprovalJSON(inv)
	if status == store.InvocationExpired {
		a.broadcast(frame(map[string]any{"type": "interactive_prompt_expired", "promptId": id, "promptType": "approval", "context": ctxJSON}))
	} else {
		resolution := "approve"
		if !approved {
			resolution = "deny"
		}
		a.broadcast(frame(map[string]any{"type": "interactive_prompt_resolved", "promptId": id, "promptType": "approval",
			"resolution": resolution, "context": ctxJSON}))
	}
	ev := "action.denied"
	if approved {
		ev = "action.approved"
	}
	a.m.publish(Event{Type: ev, SessionID: a.id, UserID: a.sess.UserID, Data: EventData{InvocationID: id, ToolName: inv.ToolName, Reason: reason}})
	return nil
}

func (a *actor) expireApproval(id string) error {
	inv, ok := a.approvals[id]
	if !ok {
		return nil
	}
	if now := a.now(); now.Before(inv.ExpiresAt) {
		a.timers.set(timerApproval+id, inv.ExpiresAt)
		return nil
	}
	return a.resolveApproval(id, store.InvocationExpired, "", "")
}

// browserApproval handles approve-action and deny-action frames.
func (a *actor) browserApproval(userID, invocationID string, approve bool, reason string) error {
	if invocationID == "" {
		return apperr.Invalid("invocationId", "invocationId is required")
	}
	status := store.InvocationDenied
	if approve {
		status = store.InvocationApproved
	}
	return a.resolveApproval(invocationID, status, strings.TrimSpace(reason), userID)
}

// sendPendingApprovals shows a (re)connecting browser the pending
// approvals.
func (a *actor) sendPendingApprovals(c Client) {
	for _, inv := range a.approvals {
		c.Send(a.approvalFrame(inv))
	}
}

// setPermissionMode changes the session's mode and tells the runner.
func (a *actor) setPermissionMode(mode string) error {
	if err := ValidPermissionMode(mode, a.sess.Agent, a.sess.Purpose); err != nil {
		return err
	}
	a.sess.PermissionMode = mode
	if err := a.commit(a.saveSession("permission_mode")); err != nil {
		return err
	}
	a.sendRunner(protocol.ServerFrame{Type: protocol.SPermissionMode, PermissionMode: mode})
	if mode == store.PermissionAuto && a.runner.connected() {
		// Pending approvals are moot: let the agent act.
		for id := range a.approvals {
			if err := a.resolveApproval(id, store.InvocationApproved, "permission mode changed to auto", a.sess.UserID); err != nil {
				return err
			}
		}
	}
	return nil
}

// SetPermissionMode changes a session's permissionMode (PATCH).
func (m *Manager) SetPermissionMode(ctx context.Context, userID, id, mode string) error {
	if _, err := m.Get(ctx, userID, id); err != nil {
		return err
	}
	return m.actors.withActor(ctx, id, func(a *actor) error { return a.setPermissionMode(mode) })
}

// Approval returns an approval its caller owns (404 otherwise).
func (m *Manager) Approval(ctx context.Context, userID, id string) (*store.ActionInvocation, error) {
	inv, err := m.st.ActionInvocations().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && inv.UserID != userID) {
		return nil, apperr.NotFound("Action invocation")
	}
	return inv, err
}

// Approvals lists the caller's approvals, newest first.
func (m *Manager) Approvals(ctx context.Context, userID string, pendingOnly bool, after store.InvocationCursor, limit int) ([]store.ActionInvocation, error) {
	return m.st.ActionInvocations().List(ctx, userID, pendingOnly, after, limit)
}

// ResolveApproval answers an approval over REST: 404 for another user's
// or an unknown one, 409 for one already answered or expired.
func (m *Manager) ResolveApproval(ctx context.Context, userID, id string, approve bool, reason string) (*store.ActionInvocation, error) {
	inv, err := m.Approval(ctx, userID, id)
	if err != nil {
		return nil, err
	}
	if inv.Status != store.InvocationPending {
		return nil, apperr.Conflict("This approval was already " + inv.Status)
	}
	err = m.actors.withActor(ctx, inv.SessionID, func(a *actor) error { return a.browserApproval(userID, id, approve, reason) })
	if errors.Is(err, errGone) {
		return nil, apperr.Conflict("The session has ended")
	}
	if err != nil {
		return nil, err
	}
	return m.st.ActionInvocations().Get(ctx, id)
}

func (a *actor) permissionMode() string {
	if a.sess.PermissionMode == "" {
		return store.PermissionAuto
	}
	return a.sess.PermissionMode
}

// abandonApprovals denies, with reason, the approvals pending when a new
// runner is started for the session: the agent that asked is gone, and a
// new one does not wait for them.
func (a *actor) abandonApprovals(reason string) {
	for id, inv := range a.approvals {
		now := a.now()
		if err := a.commit(func(ctx context.Context, tx *store.Store) error {
			return tx.ActionInvocations().Resolve(ctx, id, store.InvocationDenied, reason, "", now)
		}); err != nil && !errors.Is(err, store.ErrResolved) {
			a.log.Error("deny an abandoned approval", "invocation_id", id, "err", err)
			continue
		}
		delete(a.approvals, id)
		a.timers.clear(timerApproval + id)
		inv.Status, inv.Reason, inv.ResolvedAt = store.InvocationDenied, reason, now
		a.broadcast(frame(map[string]any{"type": "interactive_prompt_resolved", "promptId": id, "promptType": "approval",
			"resolution": "deny", "context": ApprovalJSON(inv)}))
		a.m.publish(Event{Type: "action.denied", SessionID: a.id, UserID: a.sess.UserID, Data: EventData{InvocationID: id, ToolName: inv.ToolName, Reason: reason}})
	}
}

package session

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/workspace/gitws"
	"github.com/agentops/agentops/store"
)

// CreateInput is POST /api/sessions.
type CreateInput struct {
	Workspace     string
	Title         string
	Agent         string
	InitialPrompt string
	InitialModel  string
	PersonaID     string
	Repo          RepoInput
}

// Created is a new session and, for external sandboxes, how to start its
// runner.
type Created struct {
	Session       *store.Session
	RunnerCommand string
}

// Create makes a session, starts its actor and its sandbox. The initial
// prompt, if any, waits in the queue for the runner's first idle.
func (m *Manager) Create(ctx context.Context, owner *store.User, in CreateInput) (*Created, error) {
	in.Workspace = strings.TrimSpace(in.Workspace)
	if in.Workspace == "" || len(in.Workspace) > 100 {
		return nil, apperr.Invalid("workspace", "workspace must be 1 to 100 characters")
	}
	if len(in.Title) > 200 {
		return nil, apperr.Invalid("title", "title must be at most 200 characters")
	}
	if len(in.InitialPrompt) > MaxPromptBytes {
		return nil, apperr.Invalid("initialPrompt", "initialPrompt must be at most %d bytes", MaxPromptBytes)
	}
	if in.PersonaID != "" {
		if _, err := uuid.Parse(in.PersonaID); err != nil {
			return nil, apperr.Invalid("personaId", "personaId must be a persona's id (a UUID)")
		}
		if m.cfg.Personas == nil {
			return nil, apperr.NotFound("Persona")
		}
		if _, err := m.cfg.Personas.Instructions(ctx, owner.ID, in.PersonaID); err != nil {
			return nil, err
		}
	}
	agentName, err := m.chooseAgent(ctx, owner.ID, in.Agent)
	if err != nil {
		return nil, err
	}
	in.Agent = agentName
	if err := m.checkModel(ctx, owner.ID, in.Agent, in.InitialModel); err != nil {
		return nil, err
	}
	if _, ok := m.cfg.Agents[in.Agent]; !ok {
		known := make([]string, 0, len(m.cfg.Agents))
		for k := range m.cfg.Agents {
			known = append(known, k)
		}
		return nil, apperr.Invalid("agent", "unknown agent %q (known: %s)", in.Agent, strings.Join(known, ", "))
	}
	git, err := m.checkRepo(ctx, in.Repo)
	if err != nil {
		return nil, err
	}
	now := m.now()
	token := newRunnerToken()
	sess := &store.Session{
		ID: uuid.NewString(), UserID: owner.ID, Workspace: in.Workspace, Title: in.Title, Status: store.StatusInitializing,
		Purpose: "interactive", Agent: in.Agent, PersonaID: in.PersonaID, RunnerTokenHash: hashToken(token),
		QueueMode:    queueModeOr(owner.UIQueueMode),
		LastActiveAt: now, CreatedAt: now, UpdatedAt: now,
	}
	git.SessionID, git.Branch, git.CreatedAt, git.UpdatedAt = sess.ID, gitws.SessionBranch(sess.ID), now, now
	err = m.st.InTx(ctx, func(tx *store.Store) error {
		if err := tx.LockKey(ctx, "sessions.create:"+owner.ID); err != nil {
			return err
		}
		n, err := tx.Sessions().CountActive(ctx, owner.ID)
		if err != nil {
			return err
		}
		if n >= m.cfg.MaxActiveSessions {
			return &apperr.Error{Kind: apperr.KindTooMany, Code: "SESSION_LIMIT",
				Message: fmt.Sprintf("You have %d active sessions; the limit is %d. Terminate or hibernate one first.", n, m.cfg.MaxActiveSessions),
				Extra:   map[string]any{"activeCount": n, "limit": m.cfg.MaxActiveSessions}}
		}
		if err := tx.Sessions().Create(ctx, sess); err != nil {
			return err
		}
		if err := tx.GitStates().Create(ctx, git); err != nil {
			return err
		}
		if in.InitialPrompt != "" {
			return tx.PromptQueue().Insert(ctx, &store.QueuedPrompt{
				ID: uuid.NewString(), SessionID: sess.ID, Seq: 1, Status: store.PromptQueued, Content: in.InitialPrompt,
				Model: in.InitialModel, AuthorID: owner.ID, AuthorEmail: owner.Email, AuthorName: owner.Name, CreatedAt: now,
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Started before its sandbox, so the owner's stream reads in order:
	// started, then the updates of its status (running, or errored).
	m.publish(Event{Type: "session.started", SessionID: sess.ID, UserID: owner.ID, Data: EventData{Status: sess.Status, Workspace: sess.Workspace}})
	var out Created
	err = m.actors.withActor(ctx, sess.ID, func(a *actor) error {
		sb, err := a.spawn(token, false)
		out.Session = a.snapshot()
		out.RunnerCommand = sb.Command
		return err
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Get returns a session the user owns; anything else is not found.
func (m *Manager) Get(ctx context.Context, userID, id string) (*store.Session, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, apperr.NotFound("Session")
	}
	sess, err := m.st.Sessions().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && sess.UserID != userID) {
		return nil, apperr.NotFound("Session")
	}
	if err != nil {
		return nil, err
	}
	var snap *store.Session
	if ran, err := m.actors.ifLive(ctx, id, func(a *actor) error { snap = a.snapshot(); return nil }); ran && err == nil {
		return snap, nil
	}
	return sess, nil
}

// RuntimeStatus is upstream's doStatus: the live state of a session.
type RuntimeStatus struct {
	SessionID        string   `json:"sessionId"`
	UserID           string   `json:"userId"`
	Workspace        string   `json:"workspace"`
	Status           string   `json:"status"`
	LifecycleStatus  string   `json:"lifecycleStatus"`
	SandboxID        *string  `json:"sandboxId"`
	TunnelURLs       any      `json:"tunnelUrls"`
	Tunnels          []any    `json:"tunnels"`
	RunnerConnected  bool     `json:"runnerConnected"`
	RunnerReady      bool     `json:"runnerReady"`
	RunnerBusy       bool     `json:"runnerBusy"`
	AgentState       string   `json:"agentState"`
	SandboxState     string   `json:"sandboxState"`
	JointState       string   `json:"jointState"`
	MessageCount     int      `json:"messageCount"`
	QueuedPrompts    int      `json:"queuedPrompts"`
	ConnectedClients int      `json:"connectedClients"`
	ConnectedUsers   []string `json:"connectedUsers"`
	// RunningStartedAt is in epoch milliseconds, as upstream sends it (an
	// exception to ISO-8601 in REST): the start of the current running
	// period, null when the session is not running.
	RunningStartedAt *int64 `json:"runningStartedAt"`
	// RunnerVersion is the connected runner's agentops version, from its
	// handshake (agentops addition; empty for upstream's runner).
	RunnerVersion string `json:"runnerVersion,omitempty"`
}

// Status returns the live status of a session the user owns.
func (m *Manager) Status(ctx context.Context, userID, id string) (*store.Session, *RuntimeStatus, error) {
	sess, err := m.Get(ctx, userID, id)
	if err != nil {
		return nil, nil, err
	}
	rs := &RuntimeStatus{SessionID: sess.ID, UserID: sess.UserID, Workspace: sess.Workspace, Status: sess.Status,
		LifecycleStatus: sess.Status, Tunnels: []any{}, ConnectedUsers: []string{}}
	_, _ = m.actors.ifLive(ctx, id, func(a *actor) error { a.fillStatus(rs); return nil })
	if rs.MessageCount == 0 {
		rs.MessageCount, _ = m.st.Messages().Count(ctx, id)
	}
	rs.AgentState, rs.SandboxState, rs.JointState = derivedStates(rs.Status, rs.RunnerConnected, rs.RunnerBusy, rs.QueuedPrompts)
	return sess, rs, nil
}

// ListPage is a page of sessions and the cursor of the next one.
type ListPage struct {
	Sessions []store.Session
	Next     *store.SessionCursor
}

// List returns the user's sessions, newest first.
// A non-empty title keeps those whose title contains it (any case).
func (m *Manager) List(ctx context.Context, userID, status, title string, after store.SessionCursor, limit int) (*ListPage, error) {
	if status != "" {
		ok := false
		for _, s := range Statuses() {
			ok = ok || s == status
		}
		if !ok {
			return nil, apperr.Invalid("status", "status must be one of %s", strings.Join(Statuses(), ", "))
		}
	}
	rows, err := m.st.Sessions().List(ctx, store.SessionFilter{UserID: userID, Status: status, Title: title}, after, limit+1)
	if err != nil {
		return nil, err
	}
	page := &ListPage{Sessions: rows}
	if len(rows) > limit {
		page.Sessions = rows[:limit]
		last := rows[limit-1]
		page.Next = &store.SessionCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	for i := range page.Sessions {
		_, _ = m.actors.ifLive(ctx, page.Sessions[i].ID, func(a *actor) error { page.Sessions[i] = *a.snapshot(); return nil })
	}
	return page, nil
}

// Rename sets a session's title.
func (m *Manager) Rename(ctx context.Context, userID, id, title string) error {
	if len(title) > 200 {
		return apperr.Invalid("title", "title must be at most 200 characters")
	}
	if _, err := m.Get(ctx, userID, id); err != nil {
		return err
	}
	ran, err := m.actors.ifLive(ctx, id, func(a *actor) error {
		a.sess.Title, a.sess.UpdatedAt = title, m.now()
		return m.st.Sessions().Update(ctx, a.sess, "title")
	})
	if ran && !errors.Is(err, errGone) {
		return err
	}
	sess, err := m.st.Sessions().Get(ctx, id)
	if err != nil {
		return err
	}
	sess.Title, sess.UpdatedAt = title, m.now()
	return m.st.Sessions().Update(ctx, sess, "title")
}

// Terminate stops a session's sandbox and ends it. Terminating a
// terminated session is a no-op.
func (m *Manager) Terminate(ctx context.Context, userID, id, reason string) error {
	if _, err := m.Get(ctx, userID, id); err != nil {
		return err
	}
	err := m.actors.withActor(ctx, id, func(a *actor) error { return a.terminate(reason) })
	if errors.Is(err, errGone) {
		return nil
	}
	return err
}

// BulkDeleteResult reports a bulk delete.
type BulkDeleteResult struct {
	Deleted int               `json:"deleted"`
	Errors  []BulkDeleteError `json:"errors"`
}

// BulkDeleteError names a session that could not be deleted.
type BulkDeleteError struct {
	SessionID string `json:"sessionId"`
	Error     string `json:"error"`
}

// BulkDelete terminates and removes the user's sessions; ids the user does
// not own are skipped, as upstream does.
func (m *Manager) BulkDelete(ctx context.Context, userID string, ids []string) (*BulkDeleteResult, error) {
	if len(ids) == 0 || len(ids) > 100 {
		return nil, apperr.Invalid("sessionIds", "sessionIds must hold 1 to 100 ids")
	}
	res := &BulkDeleteResult{Errors: []BulkDeleteError{}}
	for _, id := range ids {
		if _, err := m.Get(ctx, userID, id); err != nil {
			continue
		}
		if err := m.Terminate(ctx, userID, id, "bulk_delete"); err != nil {
			m.log.Warn("bulk delete: terminate", "session_id", id, "err", err)
			res.Errors = append(res.Errors, BulkDeleteError{SessionID: id, Error: "could not stop the session; try again"})
			continue
		}
		if err := m.st.Sessions().Delete(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			m.log.Warn("bulk delete: delete", "session_id", id, "err", err)
			res.Errors = append(res.Errors, BulkDeleteError{SessionID: id, Error: "could not delete the session; try again"})
			continue
		}
		m.ended.closeSession(id)
		if m.sandbox != nil {
			if err := m.sandbox.RemoveWorkspace(ctx, id); err != nil {
				m.log.Warn("remove workspace", "session_id", id, "err", err)
			}
		}
		if m.cfg.Artifacts != nil {
			// A failure leaves objects that the maintenance sweep removes.
			if err := m.cfg.Artifacts.RemoveSession(ctx, userID, id); err != nil {
				m.log.Warn("remove artifacts", "session_id", id, "err", err)
			}
		}
		res.Deleted++
	}
	return res, nil
}

// Messages returns a session's transcript. Streamed text not yet written
// (at most FlushInterval old) is included for live sessions.
func (m *Manager) Messages(ctx context.Context, userID, id string, q store.MessageQuery) ([]store.Message, error) {
	if _, err := m.Get(ctx, userID, id); err != nil {
		return nil, err
	}
	var err error
	if _, e := m.actors.ifLive(ctx, id, func(a *actor) error { err = a.flush(); return nil }); e == nil && err != nil {
		m.log.Warn("flush before reading messages", "session_id", id, "err", err)
	}
	return m.st.Messages().List(ctx, id, q)
}

// MaxPromptBytes bounds a prompt's content.
const MaxPromptBytes = 100000

// Queue modes.
const (
	ModeFollowup = "followup"
	ModeSteer    = "steer"
	ModeCollect  = "collect"
)

func queueModeOr(m string) string {
	switch m {
	case ModeFollowup, ModeSteer, ModeCollect:
		return m
	}
	return ModeFollowup
}

// PromptInput is a prompt from REST or a browser socket.
type PromptInput struct {
	Content string
	Model   string
	// Mode is followup, steer or collect; empty takes the session's mode
	// (the owner's default at creation).
	Mode string
	// Interrupt forces steer; with no content it only aborts the turn.
	Interrupt bool
	Author    Author
}

// Prompt submits a prompt to a session the user owns.
func (m *Manager) Prompt(ctx context.Context, user *store.User, id string, in PromptInput) error {
	sess, err := m.Get(ctx, user.ID, id)
	if err != nil {
		return err
	}
	if err := m.checkModel(ctx, sess.UserID, sess.Agent, in.Model); err != nil {
		return err
	}
	in.Author = Author{ID: user.ID, Email: user.Email, Name: user.Name}
	err = m.actors.withActor(ctx, id, func(a *actor) error { return a.submitPrompt(in) })
	if errors.Is(err, errGone) {
		return ErrNotActive
	}
	return err
}

// ClearQueue drops every queued prompt of a session and returns how many.
func (m *Manager) ClearQueue(ctx context.Context, userID, id string) (int, error) {
	if _, err := m.Get(ctx, userID, id); err != nil {
		return 0, err
	}
	var n int
	err := m.actors.withActor(ctx, id, func(a *actor) error {
		var err error
		n, err = a.clearQueue()
		return err
	})
	if errors.Is(err, errGone) {
		return 0, nil
	}
	return n, err
}

// Hibernate stops a running session's sandbox, keeping its workspace.
func (m *Manager) Hibernate(ctx context.Context, userID, id string) (string, error) {
	return m.lifecycle(ctx, userID, id, func(a *actor) error { return a.hibernate() })
}

// Wake restarts a hibernated session's sandbox.
func (m *Manager) Wake(ctx context.Context, userID, id string) (string, error) {
	return m.lifecycle(ctx, userID, id, func(a *actor) error { return a.wake() })
}

func (m *Manager) lifecycle(ctx context.Context, userID, id string, fn func(a *actor) error) (string, error) {
	if _, err := m.Get(ctx, userID, id); err != nil {
		return "", err
	}
	var status string
	err := m.actors.withActor(ctx, id, func(a *actor) error {
		err := fn(a)
		status = a.sess.Status
		return err
	})
	if errors.Is(err, errGone) {
		return "", ErrNotActive
	}
	return status, err
}

// Package session owns agent sessions: one actor goroutine per live session
// holds its state (status, transcript assembly, prompt queue, runner and
// browser sockets, deadlines) and everything else talks to it through its
// mailbox. It replaces upstream's SessionAgentDO.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/events"
	"github.com/agentops/agentops/app/jsonnul"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/sandbox"
	"github.com/agentops/agentops/store"
)

// EventPublisher is the user event bus (events.Bus) as sessions use it.
type EventPublisher interface {
	Publish(ctx context.Context, userID string, in events.Input) (events.Event, error)
}

// Config tunes the manager. Zero fields take defaults.
type Config struct {
	// RunnerURL is the base URL runners dial (http://host:port).
	RunnerURL string
	// DefaultAgent is used when a session does not name one.
	DefaultAgent string
	// Agents lists the agents runners can drive, with their models.
	Agents map[string][]protocol.ModelGroup
	// MaxActiveSessions per user (default 10).
	MaxActiveSessions int
	// FlushInterval bounds how long streamed text stays only in memory
	// (default 1 s).
	FlushInterval time.Duration
	// MailboxSize bounds each actor's mailbox (default 256).
	MailboxSize int
	// Timings of the session deadlines; zero fields take the defaults.
	Timings Timings
	// Now is the clock (default time.Now).
	Now func() time.Time
	// RPCs serves runner RPCs of other domains (memory); nil answers
	// them as unsupported.
	RPCs RPCs
	// Personas gives sessions their persona files; nil sends none.
	Personas Personas
	// Credentials gives a session's sandbox the owner's provider keys
	// (else the org's) in its environment; nil gives none.
	Credentials CredentialsEnv
	// Hook, when set, sees every published event.
	Hook EventHook
}

// EventHook sees every event the sessions publish, after it is published
// (notifications are made here). It runs on the publisher's goroutine,
// often a session's actor: it must be quick and must not call back into
// the manager.
type EventHook interface {
	SessionEvent(ctx context.Context, ev Event)
}

// CredentialsEnv returns the environment variables that carry a user's
// provider keys to their sandbox (ANTHROPIC_API_KEY=…).
type CredentialsEnv interface {
	CredentialsEnv(ctx context.Context, userID string) (map[string]string, error)
}

func (c *Config) setDefaults() {
	if c.MaxActiveSessions == 0 {
		c.MaxActiveSessions = 10
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = time.Second
	}
	if c.MailboxSize == 0 {
		c.MailboxSize = 256
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.DefaultAgent == "" {
		c.DefaultAgent = "script"
	}
	c.Timings.setDefaults()
}

// Timings are the session deadlines.
type Timings struct {
	// QuestionTTL is how long a question waits for an answer (5 min).
	QuestionTTL time.Duration
	// RevertGrace: prompts the runner was processing go back to the queue
	// this long after it went away (5 s).
	RevertGrace time.Duration
	// RunnerLost: a session whose runner stays away this long gets a new
	// one once (local sandboxes), then is terminated as sandbox_lost (60 s).
	RunnerLost time.Duration
	// StuckProcessing: a busy session with no runner this long after its
	// last dispatch is unstuck (5 min).
	StuckProcessing time.Duration
	// IdleQueue: queued prompts of an idle, ready session are dispatched
	// after this long at the latest (60 s).
	IdleQueue time.Duration
	// CollectDebounce: collect mode merges prompts that arrive within this
	// long of each other (3 s).
	CollectDebounce time.Duration
	// DefaultIdleTimeout applies when the owner has none (15 min).
	DefaultIdleTimeout time.Duration
	// IdleTimeout, when set, overrides every owner's idle timeout (tests).
	IdleTimeout time.Duration
}

func (t *Timings) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&t.QuestionTTL, 5*time.Minute)
	def(&t.RevertGrace, 5*time.Second)
	def(&t.RunnerLost, 60*time.Second)
	def(&t.StuckProcessing, 5*time.Minute)
	def(&t.IdleQueue, 60*time.Second)
	def(&t.CollectDebounce, 3*time.Second)
	def(&t.DefaultIdleTimeout, 15*time.Minute)
}

// FireDue makes every live actor run the deadlines that are due by the
// manager's clock now. The actors' own timers do this on their own; tests
// with a moved clock call it to get there without waiting.
func (m *Manager) FireDue() {
	m.mu.Lock()
	actors := make([]*actor, 0, len(m.actors))
	for _, a := range m.actors {
		actors = append(actors, a)
	}
	m.mu.Unlock()
	for _, a := range actors {
		_ = a.do(context.Background(), func() error { a.fireDue(); return nil })
	}
}

// Manager is the registry of session actors and the domain API for
// sessions.
type Manager struct {
	st      *store.Store
	events  EventPublisher
	sandbox sandbox.Provider
	cfg     Config
	log     *slog.Logger

	ctx    context.Context // ends when the manager shuts down
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	actors map[string]*actor
	closed bool

	workflows WorkflowHooks // set before Start; nil: no workflow support
}

// NewManager builds the manager; call Start to bring live sessions back.
func NewManager(st *store.Store, ev EventPublisher, sb sandbox.Provider, cfg Config, log *slog.Logger) *Manager {
	cfg.setDefaults()
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{st: st, events: ev, sandbox: sb, cfg: cfg, log: log, ctx: ctx, cancel: cancel, actors: map[string]*actor{}}
}

func (m *Manager) now() time.Time { return m.cfg.Now().UTC().Truncate(time.Microsecond) }

// Errors the API maps to statuses.
var (
	ErrNotActive = &apperr.Error{Kind: apperr.KindConflict, Message: "Session is not active"}
	errGone      = errors.New("session actor stopped")
)

// Start brings back an actor for every session that is not terminal, so
// their runners can reconnect and their deadlines fire.
func (m *Manager) Start(ctx context.Context) error {
	live, err := m.st.Sessions().ListLive(ctx)
	if err != nil {
		return err
	}
	for i := range live {
		a, err := m.actorFor(ctx, live[i].ID)
		if err != nil {
			m.log.Error("restore session", "session_id", live[i].ID, "err", err)
			continue
		}
		// What a crash cut short is finished on the actor, in its own
		// time: start-up does not wait for sandboxes.
		select {
		case a.mailbox <- func() {
			if err := a.finishInterrupted(); err != nil {
				a.log.Error("finish what a restart interrupted", "err", err)
			}
		}:
		default:
			a.log.Warn("mailbox full at start-up; not finishing an interrupted transition")
		}
	}
	if len(live) > 0 {
		m.log.Info("sessions restored", "count", len(live))
	}
	return nil
}

// Shutdown stops every actor: sockets close with "going away" so clients
// reconnect to the next server. Runners are left to the sandbox provider.
func (m *Manager) Shutdown(ctx context.Context) {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	done := make(chan struct{})
	go func() { m.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// actorFor returns the live actor of a session, starting it if needed. A
// terminal session has none (errGone).
func (m *Manager) actorFor(ctx context.Context, id string) (*actor, error) {
	m.mu.Lock()
	if a, ok := m.actors[id]; ok {
		m.mu.Unlock()
		return a, nil
	}
	if m.closed {
		m.mu.Unlock()
		return nil, errGone
	}
	m.mu.Unlock()
	sess, err := m.st.Sessions().Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if store.IsTerminal(sess.Status) {
		return nil, errGone
	}
	a, err := newActor(ctx, m, sess)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if other, ok := m.actors[id]; ok { // lost a race: use the winner
		return other, nil
	}
	if m.closed {
		return nil, errGone
	}
	m.actors[id] = a
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		a.run()
		m.mu.Lock()
		if m.actors[id] == a {
			delete(m.actors, id)
		}
		m.mu.Unlock()
	}()
	return a, nil
}

// liveActor returns the actor if it is running, without starting one.
func (m *Manager) liveActor(id string) *actor {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.actors[id]
}

// publish tells the session's owner; a failure is logged (the event is
// for clients' live views, which reload from REST when they reconnect).
func (m *Manager) publish(ev Event) {
	if m.events != nil {
		in := events.Input{Type: ev.Type, SessionID: ev.SessionID, Data: ev.Data}
		if _, err := m.events.Publish(m.ctx, ev.UserID, in); err != nil && m.ctx.Err() == nil {
			m.log.Warn("publish session event", "type", ev.Type, "session_id", ev.SessionID, "err", err)
		}
	}
	if m.cfg.Hook != nil && m.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(m.ctx, 10*time.Second)
		m.cfg.Hook.SessionEvent(ctx, ev)
		cancel()
	}
}

func newRunnerToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "rt_" + hex.EncodeToString(b)
}

func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

// CreateInput is POST /api/sessions.
type CreateInput struct {
	Workspace     string
	Title         string
	Agent         string
	InitialPrompt string
	InitialModel  string
	PersonaID     string
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
	if in.Agent == "" {
		in.Agent = m.cfg.DefaultAgent
	}
	if _, ok := m.cfg.Agents[in.Agent]; !ok {
		known := make([]string, 0, len(m.cfg.Agents))
		for k := range m.cfg.Agents {
			known = append(known, k)
		}
		return nil, apperr.Invalid("agent", "unknown agent %q (known: %s)", in.Agent, strings.Join(known, ", "))
	}
	now := m.now()
	token := newRunnerToken()
	sess := &store.Session{
		ID: uuid.NewString(), UserID: owner.ID, Workspace: in.Workspace, Title: in.Title, Status: store.StatusInitializing,
		Purpose: "interactive", Agent: in.Agent, PersonaID: in.PersonaID, RunnerTokenHash: hashToken(token),
		QueueMode:    queueModeOr(owner.UIQueueMode),
		LastActiveAt: now, CreatedAt: now, UpdatedAt: now,
	}
	err := m.st.InTx(ctx, func(tx *store.Store) error {
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
	a, err := m.actorFor(ctx, sess.ID)
	if err != nil {
		return nil, err
	}
	var out Created
	err = a.do(ctx, func() error {
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
	if a := m.liveActor(id); a != nil {
		var snap *store.Session
		if a.do(ctx, func() error { snap = a.snapshot(); return nil }) == nil {
			return snap, nil
		}
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
	RunningStartedAt *string  `json:"runningStartedAt"`
}

// Status returns the live status of a session the user owns.
func (m *Manager) Status(ctx context.Context, userID, id string) (*store.Session, *RuntimeStatus, error) {
	sess, err := m.Get(ctx, userID, id)
	if err != nil {
		return nil, nil, err
	}
	rs := &RuntimeStatus{SessionID: sess.ID, UserID: sess.UserID, Workspace: sess.Workspace, Status: sess.Status,
		LifecycleStatus: sess.Status, Tunnels: []any{}, ConnectedUsers: []string{}}
	if a := m.liveActor(id); a != nil {
		_ = a.do(ctx, func() error { a.fillStatus(rs); return nil })
	}
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
func (m *Manager) List(ctx context.Context, userID, status string, after store.SessionCursor, limit int) (*ListPage, error) {
	if status != "" {
		ok := false
		for _, s := range Statuses() {
			ok = ok || s == status
		}
		if !ok {
			return nil, apperr.Invalid("status", "status must be one of %s", strings.Join(Statuses(), ", "))
		}
	}
	rows, err := m.st.Sessions().List(ctx, store.SessionFilter{UserID: userID, Status: status}, after, limit+1)
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
		if a := m.liveActor(page.Sessions[i].ID); a != nil {
			_ = a.do(ctx, func() error { page.Sessions[i] = *a.snapshot(); return nil })
		}
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
	if a := m.liveActor(id); a != nil {
		if err := a.do(ctx, func() error {
			a.sess.Title, a.sess.UpdatedAt = title, m.now()
			return m.st.Sessions().Update(ctx, a.sess, "title")
		}); !errors.Is(err, errGone) {
			return err
		}
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
	a, err := m.actorFor(ctx, id)
	if errors.Is(err, errGone) {
		return nil
	} else if err != nil {
		return err
	}
	err = a.do(ctx, func() error { return a.terminate(reason) })
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
		if m.sandbox != nil {
			if err := m.sandbox.RemoveWorkspace(ctx, id); err != nil {
				m.log.Warn("remove workspace", "session_id", id, "err", err)
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
	if a := m.liveActor(id); a != nil {
		var err error
		if e := a.do(ctx, func() error { err = a.flush(); return nil }); e == nil && err != nil {
			m.log.Warn("flush before reading messages", "session_id", id, "err", err)
		}
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
	if _, err := m.Get(ctx, user.ID, id); err != nil {
		return err
	}
	in.Author = Author{ID: user.ID, Email: user.Email, Name: user.Name}
	a, err := m.actorFor(ctx, id)
	if errors.Is(err, errGone) {
		return ErrNotActive
	} else if err != nil {
		return err
	}
	err = a.do(ctx, func() error { return a.submitPrompt(in) })
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
	a, err := m.actorFor(ctx, id)
	if errors.Is(err, errGone) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	var n int
	err = a.do(ctx, func() error {
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
	a, err := m.actorFor(ctx, id)
	if errors.Is(err, errGone) {
		return "", ErrNotActive
	} else if err != nil {
		return "", err
	}
	var status string
	err = a.do(ctx, func() error {
		err := fn(a)
		status = a.sess.Status
		return err
	})
	if errors.Is(err, errGone) {
		return "", ErrNotActive
	}
	return status, err
}

// AvailableModels lists the models of every known agent.
func (m *Manager) AvailableModels() []protocol.ModelGroup {
	var out []protocol.ModelGroup
	for _, groups := range m.cfg.Agents {
		out = append(out, groups...)
	}
	if out == nil {
		out = []protocol.ModelGroup{}
	}
	return out
}

// RunnerExited is the sandbox provider's report that a session's runner
// process ended on its own.
func (m *Manager) RunnerExited(sessionID string, err error) {
	a := m.liveActor(sessionID)
	if a == nil {
		return
	}
	a.post(func() { a.runnerExited(err) })
}

// CheckRunnerToken verifies a runner's token for a session, in constant
// time. It returns errGone-like not-active errors for ended sessions.
func (m *Manager) CheckRunnerToken(ctx context.Context, id, token string) error {
	if _, err := uuid.Parse(id); err != nil || token == "" {
		return apperr.Unauthorized("Invalid runner token")
	}
	sess, err := m.st.Sessions().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return apperr.Unauthorized("Invalid runner token")
	} else if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(hashToken(token)), []byte(sess.RunnerTokenHash)) != 1 {
		return apperr.Unauthorized("Invalid runner token")
	}
	if store.IsTerminal(sess.Status) {
		return ErrNotActive
	}
	return nil
}

// RunnerSocket is what the API layer feeds a runner socket's frames to.
type RunnerSocket struct {
	a    *actor
	conn Conn
}

// AttachRunner makes conn the session's runner (replacing any other). The
// token must have been checked with CheckRunnerToken.
func (m *Manager) AttachRunner(ctx context.Context, id string, conn Conn) (*RunnerSocket, error) {
	a, err := m.actorFor(ctx, id)
	if errors.Is(err, errGone) {
		return nil, ErrNotActive
	} else if err != nil {
		return nil, err
	}
	if err := a.do(ctx, func() error { a.attachRunner(conn); return nil }); err != nil {
		if errors.Is(err, errGone) {
			return nil, ErrNotActive
		}
		return nil, err
	}
	return &RunnerSocket{a: a, conn: conn}, nil
}

// Frame hands the actor one frame from the runner. It waits for room in the
// mailbox (backpressure on the runner), never for the frame's processing.
//
// A NUL character in the frame's strings (an agent's tool output can hold
// one) becomes U+FFFD: neither database can store it, and refusing the
// frame would stall the runner, which replays it until it is acked.
func (r *RunnerSocket) Frame(raw []byte) {
	f := new(protocol.RunnerFrame)
	if err := json.Unmarshal(jsonnul.Replace(raw), f); err != nil || f.Type == "" {
		r.conn.Send(frame(errorFrame{Type: protocol.SError, Message: "Invalid JSON"}))
		return
	}
	r.a.post(func() { r.a.onRunnerFrame(r.conn, f) })
}

// Closed tells the actor the socket is gone.
func (r *RunnerSocket) Closed() { r.a.post(func() { r.a.runnerClosed(r.conn) }) }

// ClientSocket is what the API layer feeds a browser socket's frames to.
type ClientSocket struct {
	a    *actor
	conn Client
	user *store.User
}

// AttachClient joins a browser socket to a session the user owns.
func (m *Manager) AttachClient(ctx context.Context, user *store.User, id string, conn Client) (*ClientSocket, error) {
	if _, err := m.Get(ctx, user.ID, id); err != nil {
		return nil, err
	}
	a, err := m.actorFor(ctx, id)
	if errors.Is(err, errGone) {
		return nil, ErrNotActive
	} else if err != nil {
		return nil, err
	}
	if err := a.do(ctx, func() error { a.attachClient(conn, user); return nil }); err != nil {
		if errors.Is(err, errGone) {
			return nil, ErrNotActive
		}
		return nil, err
	}
	return &ClientSocket{a: a, conn: conn, user: user}, nil
}

// Frame hands the actor one frame from the browser.
// A NUL character in its strings becomes U+FFFD, as in runner frames.
func (c *ClientSocket) Frame(raw []byte) {
	f := new(clientFrame)
	if err := json.Unmarshal(jsonnul.Replace(raw), f); err != nil || f.Type == "" {
		c.conn.Send(frame(errorFrame{Type: protocol.CError, Message: "Invalid JSON"}))
		return
	}
	user := c.user
	c.a.post(func() { c.a.onClientFrame(c.conn, user, f) })
}

// clientFrame is any frame from a browser.
type clientFrame struct {
	Type       string          `json:"type"`
	Content    string          `json:"content"`
	Model      string          `json:"model"`
	QueueMode  string          `json:"queueMode"`
	QuestionID string          `json:"questionId"`
	Answer     json.RawMessage `json:"answer"`
	MessageID  string          `json:"messageId"`
}

// Closed tells the actor the socket is gone.
func (c *ClientSocket) Closed() { c.a.post(func() { c.a.clientClosed(c.conn) }) }

// Package workflow owns workflows: their definitions and history, their
// triggers (manual, webhook, schedule), their executions with the step
// trace, and the server side of the executor. Each execution runs in a
// workflow-purpose session: the server sends workflow-execute to that
// session's runner, which interprets the steps (app/runner) and reports
// one result envelope; the session actor hands it to Hooks, which record
// it. See upstream-runtime.md §5–6 for the behaviour this follows.
package workflow

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/events"
	"github.com/agentops/agentops/store"
)

// Sessions is what the executor needs of the session manager.
type Sessions interface {
	NewWorkflowSession(userID, workspace string) *store.Session
	KickWorkflow(ctx context.Context, sessionID string) error
	EndWorkflowSession(ctx context.Context, sessionID, reason string) error
}

// Sealer seals webhook secrets at rest (the instance keyring).
type Sealer interface {
	Seal(plaintext, aad []byte) (string, error)
	Open(sealed string, aad []byte) ([]byte, error)
}

// Publisher is the user event bus (app/events) as the executor uses it:
// execution status changes go to the execution's owner.
type Publisher interface {
	Publish(ctx context.Context, userID string, in events.Input) (events.Event, error)
}

// Notifier tells a user that an execution waits for their approval. The
// notifications inbox lives elsewhere (app/notify); the composition root
// wires it.
type Notifier interface {
	ApprovalRequested(ctx context.Context, userID, executionID, sessionID, prompt string) error
}

// Config tunes the service. Zero fields take defaults.
type Config struct {
	// MaxPerUser and MaxGlobal bound the active executions (pending,
	// running, waiting for approval): upstream's 5 and 50.
	MaxPerUser int
	MaxGlobal  int
	// WebhookMaxBodyBytes bounds a webhook delivery's body (256 KiB).
	WebhookMaxBodyBytes int64
	// PublicURL makes webhook URLs.
	PublicURL string
	// ApprovalTimeout cancels executions that wait longer for approval
	// (24 h).
	ApprovalTimeout time.Duration
	// MissedTickGrace: a schedule tick missed (server down, leader
	// change) still fires if it is at most this old; older ones are
	// dropped (5 min).
	MissedTickGrace time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Defaults.
const (
	DefaultMaxPerUser          = 5
	DefaultMaxGlobal           = 50
	DefaultWebhookMaxBodyBytes = 256 << 10
	DefaultApprovalTimeout     = 24 * time.Hour
	DefaultMissedTickGrace     = 5 * time.Minute
)

func (c *Config) setDefaults() {
	if c.MaxPerUser <= 0 {
		c.MaxPerUser = DefaultMaxPerUser
	}
	if c.MaxGlobal <= 0 {
		c.MaxGlobal = DefaultMaxGlobal
	}
	if c.WebhookMaxBodyBytes <= 0 {
		c.WebhookMaxBodyBytes = DefaultWebhookMaxBodyBytes
	}
	if c.ApprovalTimeout <= 0 {
		c.ApprovalTimeout = DefaultApprovalTimeout
	}
	if c.MissedTickGrace <= 0 {
		c.MissedTickGrace = DefaultMissedTickGrace
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Service is the workflow domain.
type Service struct {
	st       *store.Store
	sessions Sessions
	sealer   Sealer
	pub      Publisher
	notify   Notifier
	cfg      Config
	log      *slog.Logger
	crons    scheduleCache
}

// Deps are the service's collaborators; Publisher and Notifier may be nil.
type Deps struct {
	Store     *store.Store
	Sessions  Sessions
	Sealer    Sealer
	Publisher Publisher
	Notifier  Notifier
	Logger    *slog.Logger
}

// New builds the service.
func New(d Deps, cfg Config) *Service {
	cfg.setDefaults()
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{st: d.Store, sessions: d.Sessions, sealer: d.Sealer, pub: d.Publisher, notify: d.Notifier, cfg: cfg,
		log: log.With("component", "workflows")}
}

// WebhookMaxBodyBytes is the body limit of webhook deliveries.
func (s *Service) WebhookMaxBodyBytes() int64 { return s.cfg.WebhookMaxBodyBytes }

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

func newID() string { return uuid.NewString() }

// Event is what the executor publishes on the owner's topic when an
// execution changes status: type "workflow.execution.<status>".
type Event struct {
	Type        string    `json:"type"`
	ExecutionID string    `json:"executionId"`
	WorkflowID  string    `json:"workflowId"`
	SessionID   string    `json:"sessionId,omitempty"`
	UserID      string    `json:"userId"`
	Status      string    `json:"status"`
	StepID      string    `json:"stepId,omitempty"`
	Prompt      string    `json:"prompt,omitempty"`
	Error       string    `json:"error,omitempty"`
	At          time.Time `json:"at"`
}

// publish sends an execution's status event; failures are logged.
func (s *Service) publish(ctx context.Context, e *store.Execution) {
	if s.pub == nil {
		return
	}
	ev := Event{Type: "workflow.execution." + e.Status, ExecutionID: e.ID, WorkflowID: e.WorkflowID, SessionID: e.SessionID,
		UserID: e.UserID, Status: e.Status, Error: e.Error, At: s.now()}
	if e.Status == store.ExecWaitingApproval {
		ev.StepID, ev.Prompt = e.ResumeStepID, e.ApprovalPrompt
	}
	in := events.Input{Type: ev.Type, SessionID: e.SessionID, Data: ev}
	if _, err := s.pub.Publish(context.WithoutCancel(ctx), e.UserID, in); err != nil {
		s.log.Warn("publish execution event", "execution_id", e.ID, "err", err)
	}
}

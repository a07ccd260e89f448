package session

import (
	"context"
	"time"

	"github.com/agentops/agentops/app/events"
	"github.com/agentops/agentops/app/protocol"
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
	// Catalog, when set, says which agents a user can run; a create that
	// names one that is not installed or has no credential is refused,
	// and an empty DefaultAgent picks the first installed and usable.
	Catalog AgentCatalog
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
	// RepoRoots are the folders under which repoPath and file:// repoUrl
	// may name repositories (--repo-roots); none: local repositories off.
	RepoRoots []string
	// RepoTokens gives clones their github token; nil: clones go without.
	RepoTokens RepoTokens
	// Metrics, when set, is told what the actors do (metrics.go).
	Metrics Metrics
	// Artifacts, when set, removes the stored artifacts of deleted
	// sessions and users.
	Artifacts ArtifactRemover
	// LocalRunnersAsServerUser says that runners run on this machine as
	// the server's own user: then a terminal (terminal.go) is refused
	// while the server has more than one user.
	LocalRunnersAsServerUser bool
	// Version is the server's agentops version: a runner that reports
	// another one is asked to restart once idle (upgrade.go). Empty: never.
	Version string
	// Replica, when its ID is set, runs sessions under leases shared
	// with other replicas (replicas.go).
	Replica Replication
}

// ArtifactRemover deletes the artifacts (blob objects) of a session or of
// all of a user's sessions (artifacts.Remover is one).
type ArtifactRemover interface {
	RemoveSession(ctx context.Context, userID, sessionID string) error
	RemoveUser(ctx context.Context, userID string) error
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
	if c.DefaultAgent == "" && c.Catalog == nil {
		c.DefaultAgent = "script"
	}
	c.Timings.setDefaults()
	c.Replica.setDefaults()
}

// Timings are the session deadlines.
type Timings struct {
	// QuestionTTL is how long a question waits for an answer (5 min).
	QuestionTTL time.Duration
	// ApprovalTTL is how long an approval waits before it is denied
	// (10 min).
	ApprovalTTL time.Duration
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
	def(&t.ApprovalTTL, DefaultApprovalTTL)
	def(&t.RevertGrace, 5*time.Second)
	def(&t.RunnerLost, 60*time.Second)
	def(&t.StuckProcessing, 5*time.Minute)
	def(&t.IdleQueue, 60*time.Second)
	def(&t.CollectDebounce, 3*time.Second)
	def(&t.DefaultIdleTimeout, 15*time.Minute)
}

// Package session owns agent sessions: one actor goroutine per live session
// holds its state (status, transcript assembly, prompt queue, runner and
// browser sockets, deadlines) and everything else talks to it through its
// mailbox. It replaces upstream's SessionAgentDO.
//
// The Manager (this file; its settings in config.go) is the domain API
// (api.go, workflow.go, archive.go) and the socket adapters (sockets.go);
// both reach an actor only through the registry (registry.go), which
// starts actors on demand and releases those of hibernated sessions that
// have nothing left to do. The actor (actor.go) is the glue of its parts:
// persistence (persist.go), runner frames (runnerframes.go), the prompt
// queue (queue.go, queueops.go), the lifecycle (lifecycle.go), browsers
// (browsers.go, hub.go), questions, deadlines and the transcript.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/events"
	"github.com/agentops/agentops/app/sandbox"
	"github.com/agentops/agentops/store"
)

// Manager is the domain API for sessions (api.go) and the socket adapters
// (sockets.go); both reach a session's actor through its registry.
type Manager struct {
	st      *store.Store
	events  EventPublisher
	sandbox sandbox.Provider
	cfg     Config
	log     *slog.Logger

	ctx    context.Context // ends when the manager shuts down
	cancel context.CancelFunc

	actors *registry
	ended  *endedSockets // browser sockets of sessions that ended
	terms  *termRelay    // browser terminals (terminal.go)

	workflows WorkflowHooks // set before Start; nil: no workflow support

	repl *replicas // leases shared with other replicas (replicas.go)
}

// NewManager builds the manager; call Start to bring live sessions back.
func NewManager(st *store.Store, ev EventPublisher, sb sandbox.Provider, cfg Config, log *slog.Logger) *Manager {
	cfg.setDefaults()
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{st: st, events: ev, sandbox: sb, cfg: cfg, log: log, ctx: ctx, cancel: cancel}
	m.actors = newRegistry(m)
	m.ended = newEndedSockets()
	m.terms = newTermRelay()
	m.repl = &replicas{cfg: cfg.Replica}
	return m
}

func (m *Manager) now() time.Time { return m.cfg.Now().UTC().Truncate(time.Microsecond) }

// Errors the API maps to statuses.
var (
	ErrNotActive = &apperr.Error{Kind: apperr.KindConflict, Message: "Session is not active"}
	errGone      = errors.New("session actor stopped")
)

// Start brings back an actor for every session that is not terminal, so
// their runners can reconnect and their deadlines fire.
//
// With replicas, only the sessions no other live replica holds come back
// here; the heartbeat takes over the others when their leases expire.
func (m *Manager) Start(ctx context.Context) error {
	if m.repl.cfg.on() {
		if err := m.registerReplica(ctx); err != nil {
			return err
		}
	}
	live, err := m.st.Sessions().ListLive(ctx)
	if err != nil {
		return err
	}
	restored := 0
	for i := range live {
		a, err := m.actors.acquire(ctx, live[i].ID)
		var elsewhere *OwnedElsewhereError
		if errors.As(err, &elsewhere) {
			continue
		}
		if err != nil {
			m.log.Error("restore session", "session_id", live[i].ID, "err", err)
			continue
		}
		restored++
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
		m.actors.release(a)
	}
	if restored > 0 {
		m.log.Info("sessions restored", "count", restored)
	}
	if m.repl.cfg.on() {
		m.startHeartbeat()
	}
	return nil
}

// Shutdown stops every actor: sockets close with "going away" so clients
// reconnect to the next server. Runners are left to the sandbox provider.
//
// With replicas, the replica drains first (/ready says so, it takes no
// session) and gives up its leases as soon as its actors have written
// what they hold, so other replicas take the sessions over at once.
func (m *Manager) Shutdown(ctx context.Context) {
	m.Drain(ctx)
	m.stopHeartbeat()
	m.actors.close()
	m.cancel()
	m.actors.wait(ctx)
	m.handOver()
	m.ended.shutdown()
	m.terms.endAll("The server is shutting down")
}

// FireDue makes every live actor run the deadlines that are due by the
// manager's clock now. The actors' own timers do this on their own; tests
// with a moved clock call it to get there without waiting.
func (m *Manager) FireDue() {
	m.actors.eachLive(context.Background(), func(a *actor) error { a.fireDue(); return nil })
}

// actorFor returns the live actor of a session, starting it if needed. A
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

package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/store"
)

// Several replicas on one Postgres (docs/deploy.md, "Several replicas"):
// each live session's actor runs on the one replica holding the session's
// lease. The registry takes the lease before it starts an actor and gives
// it up when the actor ends; every write the actor commits is fenced by
// the lease's epoch (persist.go); a heartbeat renews this replica's leases
// and takes over the sessions of replicas that died.

// Replication turns on session leases. The zero value is one server
// alone: no leases, every session's actor runs here.
type Replication struct {
	// ID names this replica (a fresh one per process); empty: off.
	ID string
	// AdvertiseURL is where the other replicas reach this one.
	AdvertiseURL string
	// Release is this binary's release (the newest migration it knows).
	Release string
	// LeaseTTL is how long a lease lasts without a heartbeat (20 s).
	LeaseTTL time.Duration
	// Heartbeat is how often the replica renews its leases and looks for
	// sessions to take over (5 s): a dead replica's sessions move within
	// LeaseTTL + Heartbeat.
	Heartbeat time.Duration
}

func (r *Replication) setDefaults() {
	if r.LeaseTTL == 0 {
		r.LeaseTTL = 20 * time.Second
	}
	if r.Heartbeat == 0 {
		r.Heartbeat = 5 * time.Second
	}
}

func (r *Replication) on() bool { return r.ID != "" }

// OwnedElsewhereError: another live replica runs the session's actor.
// The HTTP layer forwards requests for the session to it; a request that
// gets here anyway (the owner changed in between) is told to retry.
type OwnedElsewhereError struct {
	Owner string // replica id
}

func (e *OwnedElsewhereError) Error() string {
	return fmt.Sprintf("session is run by replica %s", e.Owner)
}

// errMoving is what a client sees when a session changes replicas under
// its request.
var errMoving = &apperr.Error{Kind: apperr.KindUnavailable, Message: "The session is moving to another server; retry"}

// replicas is the Manager's part for leases: the heartbeat loop and the
// serialization of actor starts.
type replicas struct {
	cfg Replication

	startMu sync.Mutex // one actor start (lease + load) at a time: see registry.acquire

	mu       sync.Mutex
	draining bool
	stop     context.CancelFunc
	done     chan struct{}
}

// acquireLease takes the session's lease for an actor about to start,
// and says which other replica ran the session before ("" when none, or
// it released the session): a local runner stayed on that replica's
// machine.
func (m *Manager) acquireLease(ctx context.Context, id string) (epoch int64, from string, err error) {
	if !m.repl.cfg.on() {
		return 0, "", nil
	}
	if m.repl.isDraining() {
		return 0, "", &OwnedElsewhereError{} // another replica will take it: retry there
	}
	if prev, err := m.st.Leases().Get(ctx, id); err == nil && prev.Owner != m.repl.cfg.ID {
		from = prev.Owner
	}
	l, err := m.st.Leases().Acquire(ctx, id, m.repl.cfg.ID, m.now(), m.repl.cfg.LeaseTTL)
	if errors.Is(err, store.ErrLeaseHeld) {
		return 0, "", &OwnedElsewhereError{Owner: l.Owner}
	}
	if err != nil {
		return 0, "", err
	}
	return l.Epoch, from, nil
}

// strandedRunner reports whether the session's runner is a local one on
// another replica's machine: the actor took the session over from a
// replica that stopped, and this replica runs local sandboxes. Its
// workspace is on that machine; a runner started here would start from
// nothing.
func (a *actor) strandedRunner() bool {
	return a.takenFrom != "" && a.m.sandbox != nil && a.m.sandbox.Name() == "local"
}

// failStranded ends a session whose local runner did not come back after
// its replica stopped, with an error that says why.
func (a *actor) failStranded() error {
	a.log.Warn("local runner of a stopped replica did not come back: the session ends", "from_replica", a.takenFrom)
	a.sess.ErrorMessage = "The server this session's local runner ran on stopped and did not come back; its workspace stayed on that machine. " +
		"Run several replicas with external runners or a shared workspace volume (docs/deploy.md, \"Several replicas\")."
	return a.end(store.StatusError, "replica_lost")
}

// releaseLease gives up the lease of an actor that ended, if it still
// holds it.
func (m *Manager) releaseLease(id string, epoch int64) {
	if !m.repl.cfg.on() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.st.Leases().Release(ctx, id, m.repl.cfg.ID, epoch, m.now()); err != nil {
		m.log.Warn("release session lease", "session_id", id, "err", err)
	}
}

// fence is the first statement of every write transaction of the actor:
// it fails with store.ErrFenced once another replica took the session.
func (a *actor) fence(ctx context.Context, tx *store.Store) error {
	if !a.m.repl.cfg.on() {
		return nil
	}
	return tx.Fence(ctx, a.id, a.m.repl.cfg.ID, a.epoch)
}

// fenced stops an actor whose lease is gone: it writes nothing more (the
// new owner has the session) and tells its sockets to reconnect, which
// brings them to the new owner.
func (a *actor) fenced() {
	if a.stopped {
		return
	}
	a.log.Warn("session lease lost: another replica runs the session now")
	a.stopped = true
	a.timers = newTimers()
	if a.runner.conn != nil {
		a.runner.conn.Close(protocol.CloseGoingAway, "session moved to another server; reconnect")
		a.runner.detach(a.runner.conn)
	}
	for _, c := range a.hub.all() {
		c.Close(protocol.CloseGoingAway, "session moved to another server; reconnect")
	}
}

func (r *replicas) isDraining() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.draining
}

// ReplicaID is this replica's id; "" when leases are off.
func (m *Manager) ReplicaID() string { return m.repl.cfg.ID }

// Draining reports whether this replica is handing its sessions over
// (shutting down): /ready says not ready.
func (m *Manager) Draining() bool { return m.repl.isDraining() }

// Owner says where a request for the session should go: "" to serve it
// here (this replica runs the actor, or nobody holds the lease and this
// replica will take it), else the advertise URL of the live replica that
// holds the lease.
func (m *Manager) Owner(ctx context.Context, id string) (string, error) {
	if !m.repl.cfg.on() || m.actors.isLive(id) {
		return "", nil
	}
	l, err := m.st.Leases().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	now := m.now()
	if l.Owner == m.repl.cfg.ID || !l.Held(now) {
		return "", nil
	}
	rep, err := m.st.Replicas().Get(ctx, l.Owner)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil // gone: its lease expires soon, and then this replica takes it
	}
	if err != nil {
		return "", err
	}
	return rep.AdvertiseURL, nil
}

// register records this replica before it takes any session.
func (m *Manager) registerReplica(ctx context.Context) error {
	c := m.repl.cfg
	now := m.now()
	return m.st.Replicas().Register(ctx, &store.Replica{ID: c.ID, AdvertiseURL: c.AdvertiseURL, Release: c.Release,
		StartedAt: now, HeartbeatAt: now})
}

// startHeartbeat runs the replica's heartbeat until stopHeartbeat.
func (m *Manager) startHeartbeat() {
	ctx, cancel := context.WithCancel(m.ctx)
	m.repl.stop = cancel
	m.repl.done = make(chan struct{})
	go func() {
		defer close(m.repl.done)
		t := time.NewTicker(m.repl.cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				m.heartbeat(ctx)
			}
		}
	}()
}

func (m *Manager) stopHeartbeat() {
	if m.repl.stop != nil {
		m.repl.stop()
		<-m.repl.done
	}
}

// heartbeat renews the replica and its leases, stops actors whose lease
// another replica took, and takes over sessions whose owner died.
func (m *Manager) heartbeat(ctx context.Context) {
	c := m.repl.cfg
	now := m.now()
	if err := m.st.Replicas().Heartbeat(ctx, c.ID, now); errors.Is(err, store.ErrNotFound) {
		err = m.registerReplica(ctx)
		if err != nil {
			m.log.Warn("register replica", "err", err)
		}
	} else if err != nil {
		m.log.Warn("replica heartbeat", "err", err)
		return
	}
	if _, err := m.st.Leases().Renew(ctx, c.ID, now, c.LeaseTTL); err != nil {
		m.log.Warn("renew session leases", "err", err)
		return
	}
	// The actors live before the leases are read: one that starts in
	// between has a lease the list may miss, and must not be taken for
	// one that lost it. (epoch is set before an actor is registered and
	// never changes.)
	m.actors.mu.Lock()
	live := make([]*actor, 0, len(m.actors.actors))
	for _, a := range m.actors.actors {
		live = append(live, a)
	}
	m.actors.mu.Unlock()
	owned, err := m.st.Leases().Owned(ctx, c.ID)
	if err != nil {
		m.log.Warn("list session leases", "err", err)
		return
	}
	epochs := make(map[string]int64, len(owned))
	for _, l := range owned {
		epochs[l.SessionID] = l.Epoch
	}
	// Tell the actors whose lease moved, without waiting for them: an
	// actor busy for a while (a sandbox starting) must not hold up the
	// renewal of the others' leases.
	for _, a := range live {
		if e, ok := epochs[a.id]; !ok || e != a.epoch {
			select {
			case a.mailbox <- a.fenced:
			default: // a full mailbox: its next write is fenced anyway
			}
		}
	}
	if m.repl.isDraining() {
		return
	}
	m.takeOver(ctx, now)
}

// takeOver starts the actors of sessions whose lease expired: their
// replica died or hangs. Their runners reconnect here (or are forwarded
// here) and replay what was not acknowledged.
func (m *Manager) takeOver(ctx context.Context, now time.Time) {
	orphans, err := m.st.Leases().Orphaned(ctx, now, 100)
	if err != nil {
		m.log.Warn("list orphaned sessions", "err", err)
		return
	}
	for _, l := range orphans {
		a, err := m.actors.acquire(ctx, l.SessionID)
		var elsewhere *OwnedElsewhereError
		if errors.As(err, &elsewhere) {
			continue // another replica was quicker
		}
		if errors.Is(err, errGone) || errors.Is(err, store.ErrNotFound) {
			// The session ended: nobody needs its lease.
			if err := m.st.Leases().Release(ctx, l.SessionID, l.Owner, l.Epoch, now); err != nil {
				m.log.Warn("release an ended session's lease", "session_id", l.SessionID, "err", err)
			}
			continue
		}
		if err != nil {
			m.log.Warn("take over session", "session_id", l.SessionID, "err", err)
			continue
		}
		m.log.Info("took over session", "session_id", l.SessionID, "from_replica", l.Owner, "epoch", a.epoch)
		m.finishInterruptedOn(a)
		m.actors.release(a)
	}
}

// finishInterruptedOn queues, on a freshly started actor, the end of what
// a crash or a dead replica cut short.
func (m *Manager) finishInterruptedOn(a *actor) {
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

// Drain starts the hand-over of a replica that is shutting down: it
// starts no more actors and says so (/ready, the replicas table). Serve
// calls it first thing on SIGTERM; Shutdown then hands the sessions over.
func (m *Manager) Drain(ctx context.Context) {
	m.repl.mu.Lock()
	already := m.repl.draining
	m.repl.draining = true
	m.repl.mu.Unlock()
	if !m.repl.cfg.on() || already {
		return
	}
	if err := m.st.Replicas().SetDraining(ctx, m.repl.cfg.ID, true); err != nil && !errors.Is(err, store.ErrNotFound) {
		m.log.Warn("mark replica draining", "err", err)
	}
}

// handOver ends every lease once the actors stopped (and wrote what they
// held), so other replicas take the sessions at their next heartbeat, or
// at the first request or runner that reaches them, rather than after
// expiry.
func (m *Manager) handOver() {
	if !m.repl.cfg.on() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := m.st.Leases().ExpireAll(ctx, m.repl.cfg.ID, m.now())
	if err != nil {
		m.log.Warn("hand sessions over", "err", err)
	}
	if err := m.st.Replicas().Delete(ctx, m.repl.cfg.ID); err != nil {
		m.log.Warn("unregister replica", "err", err)
	}
	m.log.Info("sessions handed over", "count", n)
}

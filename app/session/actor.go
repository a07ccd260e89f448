package session

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/agentops/agentops/app/protocol"
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
	refs    int // callers holding the actor (registry); guarded by registry.mu
	mailbox chan func()
	nudge   chan struct{} // the last holder let go: see whether to release
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
	approvals  map[string]*store.ActionInvocation  // pending, by invocation id
	// savedActive is the last_active_at the database has; commits write
	// the newer one along (activity is frequent, so it is not written alone).
	savedActive time.Time
	stopped     bool
	git         gitLink
	// restartAsked: the runner was asked to restart because it ran
	// another agentops version (upgrade.go).
	restartAsked, restartWarned bool
	epoch                       int64  // of the session lease the actor runs under (replicas.go); 0: no leases
	takenFrom                   string // the replica that ran the session before this actor, if another
}

func newActor(ctx context.Context, m *Manager, sess *store.Session) (*actor, error) {
	a := &actor{
		m: m, id: sess.ID, log: m.log.With("session_id", sess.ID),
		mailbox: make(chan func(), m.cfg.MailboxSize), nudge: make(chan struct{}, 1), quit: make(chan struct{}),
		hub: newHub(), timers: newTimers(), users: map[string]*store.User{}, questions: map[string]*store.InteractivePrompt{},
	}
	a.runner.dropped = m.terms.endRunner
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
	if err := a.loadApprovals(ctx, st); err != nil {
		return err
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
		case <-a.nudge:
		case <-a.m.ctx.Done():
			a.shutdown()
			return
		}
		if !a.stopped && a.idle() && a.m.actors.unregisterIdle(a) {
			return
		}
	}
}

// idle reports whether the actor has nothing left to do: a hibernated
// session with no socket, no deadline and nothing only in memory. Such an
// actor is released; the next call through the registry brings the
// session back from the database.
func (a *actor) idle() bool {
	_, armed := a.timers.next()
	return a.sess.Status == store.StatusHibernated && !a.runner.connected() && a.hub.count() == 0 && !armed &&
		!a.tr.hasDirty() && a.pendingSeq == a.sess.RunnerSeq && a.sess.LastActiveAt.Equal(a.savedActive)
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
	rs.RunnerVersion = a.runner.version
	rs.RunnerBusy = a.sess.RunnerBusy
	rs.QueuedPrompts = a.queuedCount()
	rs.ConnectedClients = a.hub.count()
	rs.ConnectedUsers = a.hub.users()
	if !a.sess.RunningStartedAt.IsZero() && a.sess.Status == store.StatusRunning {
		ms := a.sess.RunningStartedAt.UnixMilli() // a copy: rs leaves the actor
		rs.RunningStartedAt = &ms
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

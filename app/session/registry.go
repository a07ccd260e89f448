package session

import (
	"context"
	"errors"
	"sync"

	"github.com/agentops/agentops/store"
)

// registry holds this process's live session actors, at most one per
// session, and is the only way into them: withActor for calls that wait for
// their result, post for socket frames, ifLive and eachLive for reads and
// nudges that must not start an actor.
//
// An actor is held (refs) by every caller between finding it and handing
// it a command, so that an actor can tell, under the registry's lock, that
// nobody is about to reach it: a hibernated session's actor with nothing
// left to do is released that way (unregisterIdle), and the next call
// through the registry loads the session again.
type registry struct {
	m *Manager

	mu     sync.Mutex
	actors map[string]*actor
	closed bool
	wg     sync.WaitGroup // one per actor goroutine
}

func newRegistry(m *Manager) *registry {
	return &registry{m: m, actors: map[string]*actor{}}
}

// withActor runs fn on the session's actor and waits for its result,
// starting the actor if there is none (never started, or released after
// hibernation). A session that ended has no actor:
// errGone.
//
// This is the one entry point to a session's actor. With replicas
// (replicas.go), starting an actor takes the session's lease; a session
// another live replica runs is not started here, and the call fails with
// a 503 that says to retry: the HTTP layer forwards requests to the owner
// (Manager.Owner) before they get here, so only a request that raced a
// change of owner sees it.
func (r *registry) withActor(ctx context.Context, id string, fn func(a *actor) error) error {
	a, err := r.acquire(ctx, id)
	var elsewhere *OwnedElsewhereError
	if errors.As(err, &elsewhere) {
		return errMoving
	}
	if err != nil {
		return err
	}
	defer r.release(a)
	return a.do(ctx, func() error { return fn(a) })
}

// post queues fn on the session's actor without waiting for it to run,
// starting the actor if there is none; it waits for room in the mailbox,
// so a fast socket is slowed down rather than dropped. A session that ended
// drops fn, and so does a session another replica runs (its sockets are
// forwarded there before they get here).
func (r *registry) post(ctx context.Context, id string, fn func(a *actor)) {
	a, err := r.acquire(ctx, id)
	if err != nil {
		return
	}
	defer r.release(a)
	a.post(func() { fn(a) })
}

// ifLive runs fn on the session's actor if one is live, without starting
// one; ran says whether it did. A session another replica runs is not
// live here; readers fall back to the database.
func (r *registry) ifLive(ctx context.Context, id string, fn func(a *actor) error) (ran bool, err error) {
	a := r.acquireLive(id)
	if a == nil {
		return false, nil
	}
	defer r.release(a)
	return true, a.do(ctx, func() error { return fn(a) })
}

// postIfLive queues fn on the session's actor if one is live.
func (r *registry) postIfLive(id string, fn func(a *actor)) {
	a := r.acquireLive(id)
	if a == nil {
		return
	}
	defer r.release(a)
	a.post(func() { fn(a) })
}

// eachLive runs fn on every live actor, one after the other.
func (r *registry) eachLive(ctx context.Context, fn func(a *actor) error) {
	r.mu.Lock()
	live := make([]*actor, 0, len(r.actors))
	for _, a := range r.actors {
		a.refs++
		live = append(live, a)
	}
	r.mu.Unlock()
	for _, a := range live {
		_ = a.do(ctx, func() error { return fn(a) })
		r.release(a)
	}
}

// isLive reports whether the session has an actor in this process.
func (r *registry) isLive(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.actors[id]
	return ok
}

// acquire returns the session's actor, held, starting it if needed; the
// caller releases it. A terminal session has none (errGone).
func (r *registry) acquire(ctx context.Context, id string) (*actor, error) {
	if a := r.acquireLive(id); a != nil {
		return a, nil
	}
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		if r.m.repl.cfg.on() {
			return nil, &OwnedElsewhereError{} // handed over: another replica takes it
		}
		return nil, errGone
	}
	if r.m.repl.cfg.on() {
		// Every lease acquisition raises the epoch: two starts of one
		// session racing here would fence each other, so with leases
		// starts go one at a time.
		r.m.repl.startMu.Lock()
		defer r.m.repl.startMu.Unlock()
		if a := r.acquireLive(id); a != nil {
			return a, nil
		}
	}
	sess, err := r.m.st.Sessions().Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if store.IsTerminal(sess.Status) {
		return nil, errGone
	}
	// With replicas the session's lease comes first: another live
	// replica's actor is OwnedElsewhereError, and the actor started here
	// writes under the new epoch.
	epoch, from, err := r.m.acquireLease(ctx, id)
	if err != nil {
		return nil, err
	}
	a, err := newActor(ctx, r.m, sess)
	if err != nil {
		r.m.releaseLease(id, epoch)
		return nil, err
	}
	a.epoch, a.takenFrom = epoch, from
	r.mu.Lock()
	defer r.mu.Unlock()
	if other, ok := r.actors[id]; ok { // lost a race: use the winner
		other.refs++
		return other, nil
	}
	if r.closed {
		r.m.releaseLease(id, epoch)
		return nil, errGone
	}
	r.actors[id] = a
	a.refs++
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		a.run()
		r.mu.Lock()
		if r.actors[id] == a {
			delete(r.actors, id)
		}
		closed := r.closed
		r.mu.Unlock()
		if !closed { // shutting down: handOver expires every lease at once
			r.m.releaseLease(id, a.epoch) // a no-op when it was lost
		}
	}()
	return a, nil
}

// acquireLive returns the session's actor, held, if it is live.
func (r *registry) acquireLive(id string) *actor {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.actors[id]
	if !ok {
		return nil
	}
	a.refs++
	return a
}

// release lets go of an actor acquire returned. The last holder nudges
// the actor to see whether it is idle now.
func (r *registry) release(a *actor) {
	r.mu.Lock()
	a.refs--
	last := a.refs == 0
	r.mu.Unlock()
	if last {
		select {
		case a.nudge <- struct{}{}:
		default:
		}
	}
}

// unregisterIdle removes an idle actor (see actor.idle), which then ends,
// unless someone holds it or a command waits in its mailbox. Holders
// count from before they reach the mailbox, so no command can be lost.
func (r *registry) unregisterIdle(a *actor) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a.refs > 0 || len(a.mailbox) > 0 {
		return false
	}
	if r.actors[a.id] == a {
		delete(r.actors, a.id)
	}
	return true
}

// close refuses new actors; the manager's context stops the live ones.
func (r *registry) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
}

// wait waits for every actor goroutine to end, or for ctx.
func (r *registry) wait(ctx context.Context) {
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

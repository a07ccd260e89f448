package session

import (
	"context"
	"errors"
	"sync"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/store"
)

// endedSockets holds the browser sockets of sessions that ended
// (terminated, errored, archived). Upstream keeps a browser's socket open
// when its session ends, and answers a socket opened to an ended session
// with an init that says so (the transcript comes from REST); its client
// reconnects, about once a second and forever, to a socket that closes. An
// ended session has no actor, so the manager owns these sockets: ping gets
// pong, anything else an error, and they close when the server shuts down
// (1001) or the session is deleted (4004, after which the socket route
// answers 404).
type endedSockets struct {
	mu     sync.Mutex
	conns  map[string]endedConn // by socket id
	closed bool
}

type endedConn struct {
	c         Client
	sessionID string
}

func newEndedSockets() *endedSockets { return &endedSockets{conns: map[string]endedConn{}} }

// add takes c over; false once the manager has shut down.
func (e *endedSockets) add(sessionID string, c Client) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.conns[c.ID()] = endedConn{c: c, sessionID: sessionID}
	return true
}

func (e *endedSockets) has(connID string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.conns[connID]
	return ok
}

// remove forgets a socket and reports whether it was held.
func (e *endedSockets) remove(connID string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.conns[connID]
	delete(e.conns, connID)
	return ok
}

// presence counts a session's sockets and lists their users.
func (e *endedSockets) presence(sessionID string) (sockets int, users []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	seen := map[string]bool{}
	users = []string{}
	for _, ec := range e.conns {
		if ec.sessionID != sessionID {
			continue
		}
		sockets++
		if u := ec.c.UserID(); !seen[u] {
			seen[u] = true
			users = append(users, u)
		}
	}
	return sockets, users
}

// closeWhere closes and forgets the sockets for which match is true.
func (e *endedSockets) closeWhere(match func(endedConn) bool, code int, reason string) {
	e.mu.Lock()
	var out []Client
	for id, ec := range e.conns {
		if match(ec) {
			out = append(out, ec.c)
			delete(e.conns, id)
		}
	}
	e.mu.Unlock()
	for _, c := range out {
		c.Close(code, reason)
	}
}

// closeSession closes a deleted session's sockets.
func (e *endedSockets) closeSession(sessionID string) {
	e.closeWhere(func(ec endedConn) bool { return ec.sessionID == sessionID }, protocol.CloseSessionEnded, "Session deleted")
}

// shutdown closes every socket and refuses new ones.
func (e *endedSockets) shutdown() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.closeWhere(func(endedConn) bool { return true }, protocol.CloseGoingAway, "server shutting down")
}

// attachEnded joins a browser socket to an ended session: an init with the
// session's status and nothing running, then its models.
func (m *Manager) attachEnded(sess *store.Session, c Client) {
	if !m.ended.add(sess.ID, c) {
		c.Close(protocol.CloseGoingAway, "server shutting down")
		return
	}
	sockets, users := m.ended.presence(sess.ID)
	c.Send(initFrame(sess, map[string]any{
		"sandboxRunning": false, "runnerConnected": false, "runnerReady": false, "runnerBusy": false,
		"promptsQueued": 0, "connectedClients": sockets, "connectedUsers": users, "pendingPrompt": nil,
	}))
	c.Send(modelsFrame(sess.Models))
}

// endedFrame answers a frame from a browser socket of an ended session.
func (m *Manager) endedFrame(c Client, f *clientFrame) {
	if f.Type == protocol.BPing {
		c.Send(frame(map[string]any{"type": protocol.CPong}))
		return
	}
	c.Send(frame(errorFrame{Type: protocol.CError, Message: ErrNotActive.Message}))
}

// endSockets hands the browser sockets of a session that just ended over
// to the manager (the actor is about to stop).
func (a *actor) endSockets() {
	for _, c := range a.hub.all() {
		a.hub.remove(c)
		if !a.m.ended.add(a.id, c) {
			c.Close(protocol.CloseGoingAway, "server shutting down")
		}
	}
}

// attachClientOrEnded attaches c to the session's actor, or, for a session
// that ended (before or meanwhile), to the manager's ended sockets.
func (m *Manager) attachClientOrEnded(ctx context.Context, sess *store.Session, user *store.User, c Client) error {
	if !store.IsTerminal(sess.Status) {
		err := m.actors.withActor(ctx, sess.ID, func(a *actor) error { a.attachClient(c, user); return nil })
		if !errors.Is(err, errGone) {
			return err
		}
		// It ended meanwhile (or the server is shutting down).
		again, gerr := m.st.Sessions().Get(ctx, sess.ID)
		if gerr != nil {
			return gerr
		}
		if !store.IsTerminal(again.Status) {
			return ErrNotActive
		}
		sess = again
	}
	m.attachEnded(sess, c)
	return nil
}

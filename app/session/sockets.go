package session

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/jsonnul"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/store"
)

// RunnerExited is the sandbox provider's report that a session's runner
// process (its sandbox sandboxID) ended on its own.
func (m *Manager) RunnerExited(sessionID, sandboxID string, err error) {
	m.actors.post(m.ctx, sessionID, func(a *actor) { a.runnerExited(sandboxID, err) })
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
	m    *Manager
	id   string
	conn Conn
}

// AttachRunner makes conn the session's runner (replacing any other). The
// token must have been checked with CheckRunnerToken.
func (m *Manager) AttachRunner(ctx context.Context, id string, conn Conn) (*RunnerSocket, error) {
	return m.AttachVersionedRunner(ctx, id, conn, "")
}

// AttachVersionedRunner is AttachRunner for a runner that reported its
// agentops version in the handshake: one that runs another version than
// the server is asked to restart once it is idle (upgrade.go).
func (m *Manager) AttachVersionedRunner(ctx context.Context, id string, conn Conn, version string) (*RunnerSocket, error) {
	if err := m.actors.withActor(ctx, id, func(a *actor) error { a.attachRunner(conn, version); return nil }); err != nil {
		if errors.Is(err, errGone) {
			return nil, ErrNotActive
		}
		return nil, err
	}
	return &RunnerSocket{m: m, id: id, conn: conn}, nil
}

// Frame hands the actor one frame from the runner. It waits for room in the
// mailbox (backpressure on the runner), never for the frame's processing.
//
// A NUL character in the frame's strings (an agent's tool output can hold
// one) becomes U+FFFD: neither database can store it, and refusing the
// frame would stall the runner, which replays it until it is acked.
func (r *RunnerSocket) Frame(raw []byte) {
	if isTerminalFrame(raw) {
		// Past the mailbox: a shell's output must not queue up in front
		// of the session's frames (terminal.go).
		r.m.terms.fromRunner(r.conn, raw)
		return
	}
	f := new(protocol.RunnerFrame)
	if err := json.Unmarshal(jsonnul.Replace(raw), f); err != nil || f.Type == "" {
		r.conn.Send(frame(errorFrame{Type: protocol.SError, Message: "Invalid JSON"}))
		return
	}
	if f.SeqGiven && f.Seq <= 0 {
		// Sequence numbers start at 1; a frame at 0 or below would slip
		// past duplicate detection. (A frame without seq is upstream's
		// runner's, and accepted.)
		r.conn.Send(frame(errorFrame{Type: protocol.SError, Message: "seq must be a positive integer; frame ignored"}))
		return
	}
	r.m.actors.post(r.m.ctx, r.id, func(a *actor) { a.onRunnerFrame(r.conn, f) })
}

// isTerminalFrame reports whether raw is a terminal frame, reading only
// its type (an output frame's data can be large).
func isTerminalFrame(raw []byte) bool {
	var typ string
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	// agentops' runner writes "type" first; a terminal frame that does
	// not goes to the actor, which answers it as an unknown type.
	if k, err := dec.Token(); err != nil || k != "type" {
		return false
	}
	if err := dec.Decode(&typ); err != nil {
		return false
	}
	return protocol.IsTerminalFrame(typ)
}

// Closed tells the actor the socket is gone.
func (r *RunnerSocket) Closed() {
	r.m.actors.post(r.m.ctx, r.id, func(a *actor) { a.runnerClosed(r.conn) })
}

// ClientSocket is what the API layer feeds a browser socket's frames to.
type ClientSocket struct {
	m    *Manager
	id   string
	conn Client
	user *store.User
}

// AttachClient joins a browser socket to a session the user owns. The
// socket of a session that ended stays open (see endedSockets).
func (m *Manager) AttachClient(ctx context.Context, user *store.User, id string, conn Client) (*ClientSocket, error) {
	sess, err := m.Get(ctx, user.ID, id)
	if err != nil {
		return nil, err
	}
	if err := m.attachClientOrEnded(ctx, sess, user, conn); err != nil {
		return nil, err
	}
	return &ClientSocket{m: m, id: id, conn: conn, user: user}, nil
}

// Frame hands the actor one frame from the browser.
// A NUL character in its strings becomes U+FFFD, as in runner frames.
func (c *ClientSocket) Frame(raw []byte) {
	f := new(clientFrame)
	if err := json.Unmarshal(jsonnul.Replace(raw), f); err != nil || f.Type == "" {
		c.conn.Send(frame(errorFrame{Type: protocol.CError, Message: "Invalid JSON"}))
		return
	}
	if c.m.ended.has(c.conn.ID()) {
		c.m.endedFrame(c.conn, f)
		return
	}
	user := c.user
	c.m.actors.post(c.m.ctx, c.id, func(a *actor) { a.onClientFrame(c.conn, user, f) })
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
func (c *ClientSocket) Closed() {
	if c.m.ended.remove(c.conn.ID()) {
		return
	}
	c.m.actors.post(c.m.ctx, c.id, func(a *actor) { a.clientClosed(c.conn) })
}

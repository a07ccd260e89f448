package session

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/store"
)

// Terminals: a browser's shell in the session's workspace, run by the
// runner (app/runner/terminal.go) and relayed here.
//
// The relay keeps terminal frames out of the actor's mailbox: output goes
// from the runner socket's reader straight to the browser terminal's own
// bounded queue, so a shell that prints 100 MB never delays the session's
// frames behind it. Both directions are flow-controlled per terminal
// (protocol.TerminalWindow, protocol.TerminalInputWindow): the runner stops
// reading a shell whose output the browser has not taken, and a browser
// that types faster than its shell reads waits on its own socket. A slow
// terminal therefore slows only itself — backpressure, never dropped
// bytes; a peer that breaks the window has its terminal closed.
//
// The actor is reached (through the registry) only to open a terminal on
// its current runner; when that runner goes away (replaced, hibernated,
// terminated, lost), the actor ends the session's terminals.

// TermConn is a browser's terminal socket as the relay sees it.
type TermConn interface {
	ID() string
	// Output queues shell output for the browser without blocking; false
	// when its queue (at least protocol.TerminalWindow bytes) is full.
	Output(b []byte) bool
	// End tells the browser the shell ended (exitCode, when known, or why
	// it was ended), then closes the socket.
	End(exitCode *int, reason string)
}

// TerminalStats describes the open terminals (for metrics and tests).
type TerminalStats struct {
	Open int
	// PeakQueuedBytes is the most output that ever waited for one
	// browser since the process started; it stays within
	// protocol.TerminalWindow.
	PeakQueuedBytes int
}

type termRelay struct {
	mu    sync.Mutex
	terms map[string]*terminal // by terminal id
	peak  int
}

func newTermRelay() *termRelay { return &termRelay{terms: map[string]*terminal{}} }

// terminal is one open terminal: a browser socket and a shell on a runner.
type terminal struct {
	id        string
	sessionID string
	runner    Conn
	browser   TermConn

	mu       sync.Mutex
	queued   int // output bytes given to the browser's queue, not yet written
	unacked  int // output bytes written to the browser, not yet acked to the runner
	inFlight int // input bytes sent to the runner, not yet acked by it
	credit   chan struct{}
	ended    bool
	done     chan struct{}
}

// TerminalSocket is what the API layer feeds a browser terminal socket to.
type TerminalSocket struct {
	m *Manager
	t *terminal
}

// CheckTerminal says whether user may open a terminal on the session: the
// owner only (others get 404, as for every session route), and not while
// local runners run as the server's own user on a server with more than
// one user (a shell could read the data dir, everyone's sessions and the
// instance key).
func (m *Manager) CheckTerminal(ctx context.Context, userID, id string) error {
	sess, err := m.Get(ctx, userID, id)
	if err != nil {
		return err
	}
	if store.IsTerminal(sess.Status) {
		return ErrNotActive
	}
	if m.cfg.LocalRunnersAsServerUser {
		n, err := m.st.Users().Count(ctx)
		if err != nil {
			return err
		}
		if n > 1 {
			return apperr.Forbidden("The terminal is off: local runners run as the server's own user (no --runner-user) " +
				"and this server has more than one user, so a shell could read the server's data directory")
		}
	}
	// Only a live actor can have a runner; this read starts none.
	connected := false
	if _, err := m.actors.ifLive(ctx, id, func(a *actor) error { connected = a.runner.conn != nil; return nil }); err != nil {
		return err
	}
	if !connected {
		return errNoRunner
	}
	return nil
}

var errNoRunner = apperr.Conflict("The session's runner is not connected (wake the session, or wait for it to start)")

// OpenTerminal starts a shell of cols×rows on the session's runner for
// conn, after CheckTerminal. The runner must be connected.
func (m *Manager) OpenTerminal(ctx context.Context, userID, id string, cols, rows int, conn TermConn) (*TerminalSocket, error) {
	if err := m.CheckTerminal(ctx, userID, id); err != nil {
		return nil, err
	}
	t := &terminal{id: uuid.NewString(), sessionID: id, browser: conn, credit: make(chan struct{}), done: make(chan struct{})}
	err := m.actors.withActor(ctx, id, func(a *actor) error {
		if a.runner.conn == nil {
			return errNoRunner
		}
		t.runner = a.runner.conn
		m.terms.add(t)
		t.toRunner(protocol.TerminalFrame{Type: protocol.TerminalOpen, TerminalID: t.id, Cols: cols, Rows: rows})
		return nil
	})
	if err != nil {
		if err == errGone {
			return nil, ErrNotActive
		}
		return nil, err
	}
	return &TerminalSocket{m: m, t: t}, nil
}

// ID is the terminal's id (terminalId in the runner frames).
func (s *TerminalSocket) ID() string { return s.t.id }

// Input sends keystrokes to the shell, waiting (per terminal) while the
// shell has not taken protocol.TerminalInputWindow bytes. It returns
// false once the terminal has ended or ctx is done.
func (s *TerminalSocket) Input(ctx context.Context, b []byte) bool {
	t := s.t
	for len(b) > 0 {
		n := min(len(b), protocol.TerminalChunk)
		t.mu.Lock()
		for !t.ended && t.inFlight+n > protocol.TerminalInputWindow {
			ch := t.credit
			t.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return false
			}
			t.mu.Lock()
		}
		if t.ended {
			t.mu.Unlock()
			return false
		}
		t.inFlight += n
		t.mu.Unlock()
		if !t.toRunner(protocol.TerminalFrame{Type: protocol.TerminalInput, TerminalID: t.id, Data: b[:n]}) {
			s.m.terms.end(t, nil, "The runner is not reading; terminal closed", true)
			return false
		}
		b = b[n:]
	}
	return true
}

// Resize tells the shell its new size.
func (s *TerminalSocket) Resize(cols, rows int) {
	s.t.toRunner(protocol.TerminalFrame{Type: protocol.TerminalResize, TerminalID: s.t.id, Cols: cols, Rows: rows})
}

// Written reports that n bytes of output reached the browser: their credit
// goes back to the runner (in batches of a quarter window, or when the
// browser has caught up).
func (s *TerminalSocket) Written(n int) {
	t := s.t
	t.mu.Lock()
	t.queued -= n
	t.unacked += n
	send := 0
	if !t.ended && (t.unacked >= protocol.TerminalWindow/4 || t.queued == 0) {
		send, t.unacked = t.unacked, 0
	}
	t.mu.Unlock()
	if send > 0 && !t.toRunner(protocol.TerminalFrame{Type: protocol.TerminalAck, TerminalID: t.id, Bytes: send}) {
		s.m.terms.end(t, nil, "The runner is not reading; terminal closed", true)
	}
}

// Closed ends the shell: the browser closed its socket.
func (s *TerminalSocket) Closed() { s.m.terms.end(s.t, nil, "", true) }

// Done is closed when the terminal has ended.
func (s *TerminalSocket) Done() <-chan struct{} { return s.t.done }

func (t *terminal) toRunner(f protocol.TerminalFrame) bool {
	b, err := json.Marshal(f)
	if err != nil {
		return false
	}
	return t.runner.Send(b)
}

func (r *termRelay) add(t *terminal) {
	r.mu.Lock()
	r.terms[t.id] = t
	r.mu.Unlock()
}

// end ends t once: the browser is told (unless it is the one that left),
// the runner too when tellRunner (its shell gets SIGHUP).
func (r *termRelay) end(t *terminal, exitCode *int, reason string, tellRunner bool) {
	t.mu.Lock()
	if t.ended {
		t.mu.Unlock()
		return
	}
	t.ended = true
	close(t.credit)
	close(t.done)
	t.mu.Unlock()
	r.mu.Lock()
	delete(r.terms, t.id)
	r.mu.Unlock()
	if tellRunner {
		t.toRunner(protocol.TerminalFrame{Type: protocol.TerminalClose, TerminalID: t.id})
	}
	t.browser.End(exitCode, reason)
}

// fromRunner handles a terminal frame from the runner socket c, on that
// socket's reader: it never waits.
func (r *termRelay) fromRunner(c Conn, raw []byte) {
	var f protocol.TerminalFrame
	if err := json.Unmarshal(raw, &f); err != nil {
		return
	}
	r.mu.Lock()
	t := r.terms[f.TerminalID]
	r.mu.Unlock()
	if t == nil || t.runner.ID() != c.ID() {
		return // ended already, or not this runner's
	}
	switch f.Type {
	case protocol.TerminalOutput:
		n := len(f.Data)
		t.mu.Lock()
		over := t.queued+t.unacked+n > protocol.TerminalWindow
		if !over {
			t.queued += n
		}
		q := t.queued
		t.mu.Unlock()
		if over || !t.browser.Output(f.Data) {
			r.end(t, nil, "The runner sent more output than the terminal's window; terminal closed", true)
			return
		}
		r.mu.Lock()
		r.peak = max(r.peak, q)
		r.mu.Unlock()
	case protocol.TerminalAck:
		t.mu.Lock()
		if !t.ended { // end closed credit for good
			t.inFlight = max(t.inFlight-f.Bytes, 0)
			close(t.credit)
			t.credit = make(chan struct{})
		}
		t.mu.Unlock()
	case protocol.TerminalClose:
		reason := "The shell ended"
		if f.Error != "" {
			reason = "The shell could not start: " + f.Error
		}
		r.end(t, f.ExitCode, reason, false)
	}
}

// endRunner ends the terminals whose shells run on runner socket c (it
// went away, or the session stopped).
func (r *termRelay) endRunner(c Conn, reason string) {
	r.mu.Lock()
	var mine []*terminal
	for _, t := range r.terms {
		if t.runner.ID() == c.ID() {
			mine = append(mine, t)
		}
	}
	r.mu.Unlock()
	for _, t := range mine {
		r.end(t, nil, reason, true)
	}
}

// endAll ends every terminal (the server is shutting down).
func (r *termRelay) endAll(reason string) {
	r.mu.Lock()
	all := make([]*terminal, 0, len(r.terms))
	for _, t := range r.terms {
		all = append(all, t)
	}
	r.mu.Unlock()
	for _, t := range all {
		r.end(t, nil, reason, true)
	}
}

// TerminalStats reports the open terminals.
func (m *Manager) TerminalStats() TerminalStats {
	m.terms.mu.Lock()
	defer m.terms.mu.Unlock()
	return TerminalStats{Open: len(m.terms.terms), PeakQueuedBytes: m.terms.peak}
}

package session

import "time"

// runnerLink is the session's one runner socket and whether that runner is
// ready (it has reported its first idle since connecting).
type runnerLink struct {
	conn        Conn
	ready       bool
	connectedAt time.Time
	// dropped, when set, hears of every socket that stops being the
	// runner (replaced or detached), with why.
	dropped func(c Conn, why string)
	version string // the runner's agentops version, from its handshake
}

// attach makes c the runner and returns the one it replaces, if any.
func (l *runnerLink) attach(c Conn, now time.Time, version string) Conn {
	old := l.conn
	l.conn, l.ready, l.connectedAt, l.version = c, false, now, version
	if old != nil && old.ID() == c.ID() {
		return nil
	}
	if old != nil && l.dropped != nil {
		l.dropped(old, "A new runner connection replaced the one this terminal ran on")
	}
	return old
}

// detach forgets c if it is the current runner and reports whether it was:
// closes of a replaced socket are ignored.
func (l *runnerLink) detach(c Conn) bool {
	if l.conn == nil || l.conn.ID() != c.ID() {
		return false
	}
	l.conn, l.ready, l.version = nil, false, ""
	if l.dropped != nil {
		l.dropped(c, "The session's runner went away (hibernated, terminated or disconnected)")
	}
	return true
}

func (l *runnerLink) connected() bool { return l.conn != nil }

// send queues a frame for the runner; false if there is no runner or its
// queue is full.
func (l *runnerLink) send(frame []byte) bool {
	if l.conn == nil {
		return false
	}
	return l.conn.Send(frame)
}

package session

// Metrics is what sessions report to the server's instrumentation
// (app/metrics). Calls happen on actor goroutines: they must be quick.
type Metrics interface {
	// SlowConsumerClosed: a browser socket was closed because its send
	// queue was full.
	SlowConsumerClosed()
	// RunnerLost: the runner of a running session went away.
	RunnerLost()
	// TurnFinished: an agent turn ended; reason is the runner's finish
	// reason (end_turn, error, canceled).
	TurnFinished(agent, reason string)
}

type noMetrics struct{}

func (noMetrics) SlowConsumerClosed()          {}
func (noMetrics) RunnerLost()                  {}
func (noMetrics) TurnFinished(agent, _ string) {}

// metrics is where the actors report to; never nil.
func (m *Manager) metrics() Metrics {
	if m.cfg.Metrics == nil {
		return noMetrics{}
	}
	return m.cfg.Metrics
}

// ActorStats is what the registry can tell without asking the actors.
type ActorStats struct {
	// Actors is the number of live session actors in this process.
	Actors int
	// MailboxDepth is the commands waiting in all their mailboxes;
	// MaxMailboxDepth the most waiting in one.
	MailboxDepth, MaxMailboxDepth int
}

// ActorStats reads the registry (for metrics, at scrape time).
func (m *Manager) ActorStats() ActorStats {
	r := m.actors
	r.mu.Lock()
	defer r.mu.Unlock()
	st := ActorStats{Actors: len(r.actors)}
	for _, a := range r.actors {
		n := len(a.mailbox)
		st.MailboxDepth += n
		st.MaxMailboxDepth = max(st.MaxMailboxDepth, n)
	}
	return st
}

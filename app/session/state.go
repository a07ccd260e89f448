package session

import "github.com/agentops/agentops/store"

// transitions is the session status machine: from → allowed next states.
// Terminal states only move on to archived.
var transitions = map[string][]string{
	store.StatusInitializing: {store.StatusRunning, store.StatusError, store.StatusTerminated},
	store.StatusRunning:      {store.StatusHibernating, store.StatusTerminated, store.StatusError},
	store.StatusHibernating:  {store.StatusHibernated, store.StatusRunning, store.StatusTerminated, store.StatusError},
	store.StatusHibernated:   {store.StatusRestoring, store.StatusTerminated, store.StatusError},
	store.StatusRestoring:    {store.StatusRunning, store.StatusTerminated, store.StatusError},
	store.StatusTerminated:   {store.StatusArchived},
	store.StatusError:        {store.StatusArchived, store.StatusTerminated},
	store.StatusArchived:     nil,
}

// CanTransition reports whether the status machine allows from → to.
func CanTransition(from, to string) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Statuses lists every session status.
func Statuses() []string {
	return []string{store.StatusInitializing, store.StatusRunning, store.StatusHibernating, store.StatusHibernated,
		store.StatusRestoring, store.StatusTerminated, store.StatusError, store.StatusArchived}
}

// agentState, sandboxState and jointState derive upstream's summary states
// for the status payload.
func derivedStates(status string, runnerConnected, busy bool, queued int) (agent, sandbox, joint string) {
	switch status {
	case store.StatusTerminated, store.StatusArchived:
		return "stopped", "stopped", "stopped"
	case store.StatusError:
		return "error", "error", "error"
	case store.StatusHibernated:
		return "sleeping", "hibernated", "sleeping"
	case store.StatusHibernating:
		return "sleeping", "hibernating", "sleeping"
	case store.StatusRestoring:
		return "starting", "restoring", "waking"
	case store.StatusInitializing:
		return "starting", "starting", "starting"
	}
	switch {
	case !runnerConnected:
		return "starting", "running", "starting"
	case busy:
		return "busy", "running", "running_busy"
	case queued > 0:
		return "queued", "running", "queued"
	}
	return "idle", "running", "running_idle"
}

package session

// LiveActors is how many sessions have an actor in this process.
func (m *Manager) LiveActors() int {
	m.actors.mu.Lock()
	defer m.actors.mu.Unlock()
	return len(m.actors.actors)
}

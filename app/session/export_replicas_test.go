package session

import "context"

// Heartbeat runs one heartbeat of the replica now (tests drive it with a
// fake clock instead of the ticker).
func (m *Manager) Heartbeat(ctx context.Context) { m.heartbeat(ctx) }

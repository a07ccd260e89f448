package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/agentops/agentops/app/sandbox"
	"github.com/agentops/agentops/store"
)

// ArchiveResult reports one run of ArchiveEnded.
type ArchiveResult struct {
	Archived int
	// Skipped sessions still had a runner or an actor; a later run retries.
	Skipped int
}

// archiveBatch is how many sessions one query of ArchiveEnded takes.
const archiveBatch = 100

// ArchiveEnded archives sessions that were terminated or errored before
// cutoff: it removes each one's workspace, then marks it archived (its
// transcript stays readable). It handles at most limit sessions, so that a
// backlog is worked off over several runs, and is safe to run again or on
// several replicas at once.
func (m *Manager) ArchiveEnded(ctx context.Context, cutoff time.Time, limit int) (ArchiveResult, error) {
	var res ArchiveResult
	seen := map[string]bool{}
	for res.Archived+res.Skipped < limit {
		batch, err := m.st.Sessions().ListEndedBefore(ctx, cutoff, min(archiveBatch, limit-res.Archived-res.Skipped)+len(seen))
		if err != nil {
			return res, err
		}
		progress := false
		for i := range batch {
			s := &batch[i]
			if seen[s.ID] {
				continue
			}
			seen[s.ID] = true
			progress = true
			if m.actors.isLive(s.ID) {
				res.Skipped++
				continue
			}
			if m.sandbox != nil {
				if err := m.sandbox.RemoveWorkspace(ctx, s.ID); err != nil {
					if errors.Is(err, sandbox.ErrRunnerActive) {
						res.Skipped++
						continue
					}
					return res, fmt.Errorf("archive session %s: %w", s.ID, err)
				}
			}
			if err := m.st.Sessions().MarkArchived(ctx, s.ID, m.now()); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					continue // deleted or changed meanwhile
				}
				return res, fmt.Errorf("archive session %s: %w", s.ID, err)
			}
			res.Archived++
			if res.Archived+res.Skipped >= limit {
				break
			}
		}
		if !progress {
			break
		}
	}
	return res, nil
}

// EndUserSessions ends every session of a user who is about to be deleted:
// live ones are terminated (their runners stopped, so no process keeps the
// user's credentials), and every workspace is removed. The rows go with
// the user.
func (m *Manager) EndUserSessions(ctx context.Context, userID string) error {
	ids, err := m.st.Sessions().IDsForUser(ctx, userID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := m.Terminate(ctx, userID, id, "user_deleted"); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("end session %s: %w", id, err)
		}
		m.ended.closeSession(id) // the user's sockets end with the user
		if m.sandbox != nil {
			if err := m.sandbox.RemoveWorkspace(ctx, id); err != nil {
				m.log.Warn("remove workspace of a deleted user's session", "session_id", id, "err", err)
			}
		}
	}
	return nil
}

package artifacts

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/blob"
)

// Remover deletes the artifacts of sessions and users that are deleted.
// It needs only the blob storage, so that the session manager (which the
// Service needs) can hold one.
type Remover struct{ blob blob.Storage }

// NewRemover returns a Remover over a blob storage.
func NewRemover(b blob.Storage) *Remover { return &Remover{blob: b} }

func userPrefix(userID string) string { return "backups/" + userID + "/" }

func sessionPrefix(userID, sessionID string) string {
	return userPrefix(userID) + "sessions/" + sessionID + "/"
}

// RemoveSession deletes every object of a session.
func (r *Remover) RemoveSession(ctx context.Context, userID, sessionID string) error {
	if userID == "" || sessionID == "" || strings.Contains(userID+sessionID, "/") {
		return fmt.Errorf("remove artifacts: bad session %q of user %q", sessionID, userID)
	}
	_, err := r.removePrefix(ctx, sessionPrefix(userID, sessionID))
	return err
}

// RemoveUser deletes every object of a user.
func (r *Remover) RemoveUser(ctx context.Context, userID string) error {
	if userID == "" || strings.Contains(userID, "/") {
		return fmt.Errorf("remove artifacts: bad user %q", userID)
	}
	_, err := r.removePrefix(ctx, userPrefix(userID))
	return err
}

// removePrefix deletes every object under prefix and counts them.
func (r *Remover) removePrefix(ctx context.Context, prefix string) (int, error) {
	n := 0
	for {
		// Always the first page: what was listed is deleted, so the
		// next page starts at the front again.
		page, err := r.blob.List(ctx, prefix, "", blob.MaxListLimit)
		if err != nil {
			return n, fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, it := range page.Items {
			if err := r.blob.Delete(ctx, it.Key); err != nil {
				return n, fmt.Errorf("delete %s: %w", it.Key, err)
			}
			n++
		}
		if page.Next == "" || len(page.Items) == 0 {
			return n, nil
		}
	}
}

// SweepResult counts what a sweep removed.
type SweepResult struct {
	Sessions int
	Users    int
	Objects  int
}

// Sweep removes the artifacts of sessions and users that no longer exist
// in the database: deletions remove their artifacts at once, and this
// catches those that a crash or a storage error cut short.
func (r *Remover) Sweep(ctx context.Context, st *store.Store) (SweepResult, error) {
	var res SweepResult
	users := map[string]bool{}  // user id → exists
	judged := map[string]bool{} // session prefixes already judged
	cursor := ""
	for {
		page, err := r.blob.List(ctx, "backups/", cursor, blob.MaxListLimit)
		if err != nil {
			return res, fmt.Errorf("list artifacts: %w", err)
		}
		for _, it := range page.Items {
			parts := strings.SplitN(strings.TrimPrefix(it.Key, "backups/"), "/", 4)
			if len(parts) < 2 || parts[0] == "" {
				continue
			}
			userID := parts[0]
			exists, known := users[userID]
			if !known {
				_, err := st.Users().Get(ctx, userID)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return res, err
				}
				exists, users[userID] = err == nil, err == nil
				if !exists {
					n, err := r.removePrefix(ctx, userPrefix(userID))
					res.Objects += n
					if err != nil {
						return res, err
					}
					res.Users++
				}
			}
			if !exists || len(parts) < 4 || parts[1] != "sessions" || parts[2] == "" {
				continue
			}
			prefix := sessionPrefix(userID, parts[2])
			if judged[prefix] {
				continue
			}
			judged[prefix] = true
			sess, err := st.Sessions().Get(ctx, parts[2])
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return res, err
			}
			if err == nil && sess.UserID == userID {
				continue
			}
			n, err := r.removePrefix(ctx, prefix)
			res.Objects += n
			if err != nil {
				return res, err
			}
			res.Sessions++
		}
		if page.Next == "" {
			return res, nil
		}
		cursor = page.Next
	}
}

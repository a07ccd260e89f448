package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/store"
)

// MaxAPIKeyTTL bounds an API key's lifetime when one is given.
const MaxAPIKeyTTL = 10 * 365 * 24 * time.Hour

// CreateAPIKey mints an `sk_` key for userID. ttl 0 means no expiry. The
// plaintext key is returned once and never stored.
func (s *Service) CreateAPIKey(ctx context.Context, userID, name string, ttl time.Duration) (string, *store.APIToken, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", nil, apperr.Invalid("name", "name must be 1 to 100 characters")
	}
	if ttl < 0 || ttl > MaxAPIKeyTTL {
		return "", nil, apperr.Invalid("expiresInDays", "expiry must be between 1 day and 10 years")
	}
	key := newAPIKey()
	now := s.now()
	t := &store.APIToken{
		ID: uuid.NewString(), UserID: userID, Name: name, TokenHash: HashToken(key),
		Prefix: displayPrefix(key), Scopes: []string{}, CreatedAt: now,
	}
	if ttl > 0 {
		t.ExpiresAt = now.Add(ttl)
	}
	if err := s.st.APITokens().Create(ctx, t); err != nil {
		return "", nil, err
	}
	return key, t, nil
}

// CreateAPIKeyForEmail is CreateAPIKey for the command line.
func (s *Service) CreateAPIKeyForEmail(ctx context.Context, rawEmail, name string, ttl time.Duration) (string, *store.APIToken, error) {
	email, err := NormalizeEmail(rawEmail)
	if err != nil {
		return "", nil, err
	}
	u, err := s.st.Users().GetByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil, apperr.NotFound("User " + email)
	} else if err != nil {
		return "", nil, err
	}
	return s.CreateAPIKey(ctx, u.ID, name, ttl)
}

// ListAPIKeys returns the user's keys that are not revoked, newest first.
func (s *Service) ListAPIKeys(ctx context.Context, userID string) ([]store.APIToken, error) {
	return s.st.APITokens().ListActive(ctx, userID)
}

// RevokeAPIKey revokes one of the user's keys; another user's key, or one
// already revoked, is not found.
func (s *Service) RevokeAPIKey(ctx context.Context, userID, id string) error {
	err := s.st.APITokens().Revoke(ctx, userID, id, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return apperr.NotFound("API key")
	}
	return err
}

package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/store"
)

// base is a fixed instant the tests build times from, so that orderings
// and expiries do not depend on the wall clock.
var base = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// at returns base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

// mkUser inserts a user with the given email and role, created at created.
func mkUser(t *testing.T, s *store.Store, email, role string, created time.Time) *store.User {
	t.Helper()
	u := &store.User{
		ID:                 uuid.NewString(),
		Email:              email,
		Role:               role,
		IdleTimeoutSeconds: 900,
		UIQueueMode:        "followup",
		IdentityProvider:   "email",
		CreatedAt:          created,
		UpdatedAt:          created,
	}
	if err := s.Users().Create(context.Background(), u); err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

// mkSession inserts a login session of user expiring at expires.
func mkSession(t *testing.T, s *store.Store, userID, hash string, expires time.Time) *store.AuthSession {
	t.Helper()
	a := &store.AuthSession{
		ID:        uuid.NewString(),
		UserID:    userID,
		TokenHash: hash,
		Provider:  "password",
		ExpiresAt: expires,
		CreatedAt: base,
	}
	if err := s.AuthSessions().Create(context.Background(), a); err != nil {
		t.Fatalf("create login session %s: %v", hash, err)
	}
	return a
}

// mkToken inserts an API key of user; a zero expires means no expiry.
func mkToken(t *testing.T, s *store.Store, userID, hash string, created, expires time.Time) *store.APIToken {
	t.Helper()
	k := &store.APIToken{
		ID:        uuid.NewString(),
		UserID:    userID,
		Name:      "key " + hash,
		TokenHash: hash,
		Prefix:    "sk_" + hash[:min(4, len(hash))],
		ExpiresAt: expires,
		CreatedAt: created,
	}
	if err := s.APITokens().Create(context.Background(), k); err != nil {
		t.Fatalf("create api key %s: %v", hash, err)
	}
	return k
}

// mkInvite inserts an invite.
func mkInvite(t *testing.T, s *store.Store, code, email, invitedBy string, created, expires time.Time) *store.Invite {
	t.Helper()
	inv := &store.Invite{
		ID:        uuid.NewString(),
		Code:      code,
		Email:     email,
		Role:      store.RoleMember,
		InvitedBy: invitedBy,
		ExpiresAt: expires,
		CreatedAt: created,
	}
	if err := s.Invites().Create(context.Background(), inv); err != nil {
		t.Fatalf("create invite %s: %v", code, err)
	}
	return inv
}

// wantErr fails unless errors.Is(err, target).
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// noErr fails on err.
func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// sameTime fails unless got and want are the same instant.
func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s: got %s, want %s", what, got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
	}
}

// countRows returns how many rows of table match where (raw SQL with bun's
// ? placeholders for args; empty for all rows).
func countRows(t *testing.T, s *store.Store, table, where string, args ...any) int {
	t.Helper()
	var n int
	q := "SELECT count(*) FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	if err := s.DB().NewRaw(q, args...).Scan(context.Background(), &n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

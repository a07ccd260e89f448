package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func TestAuthSessionsGetValid(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "a@example.com", store.RoleMember, at(0))
		now := at(time.Hour)
		live := mkSession(t, s, u.ID, "live", now.Add(time.Minute))
		mkSession(t, s, u.ID, "expired", now.Add(-time.Minute))
		mkSession(t, s, u.ID, "edge", now)

		got, err := s.AuthSessions().GetValid(ctx, "live", now)
		noErr(t, "get live session", err)
		if got.ID != live.ID || got.UserID != u.ID || got.Provider != "password" {
			t.Errorf("live session read back as %+v", got)
		}
		sameTime(t, "expires_at", got.ExpiresAt, live.ExpiresAt)
		if !got.LastUsedAt.IsZero() {
			t.Errorf("never used session has last_used_at %v", got.LastUsedAt)
		}
		_, err = s.AuthSessions().GetValid(ctx, "expired", now)
		wantErr(t, "expired session", err, store.ErrNotFound)
		_, err = s.AuthSessions().GetValid(ctx, "edge", now)
		wantErr(t, "session expiring right now", err, store.ErrNotFound)
		_, err = s.AuthSessions().GetValid(ctx, "unknown", now)
		wantErr(t, "unknown hash", err, store.ErrNotFound)
		// The same expired row is valid at an earlier instant.
		_, err = s.AuthSessions().GetValid(ctx, "expired", now.Add(-time.Hour))
		noErr(t, "expired session, an hour earlier", err)

		// Token hashes are unique.
		dup := &store.AuthSession{ID: uuid.NewString(), UserID: u.ID, TokenHash: "live", Provider: "password", ExpiresAt: now, CreatedAt: now}
		wantErr(t, "duplicate token hash", s.AuthSessions().Create(ctx, dup), store.ErrConflict)
		// A session needs its user.
		orphan := &store.AuthSession{ID: uuid.NewString(), UserID: uuid.NewString(), TokenHash: "orphan", Provider: "password", ExpiresAt: now, CreatedAt: now}
		wantErr(t, "session of a missing user", s.AuthSessions().Create(ctx, orphan), store.ErrReferenced)

		noErr(t, "touch", s.AuthSessions().Touch(ctx, live.ID, now.Add(time.Second)))
		got, err = s.AuthSessions().GetValid(ctx, "live", now)
		noErr(t, "get touched session", err)
		sameTime(t, "last_used_at", got.LastUsedAt, now.Add(time.Second))
	})
}

func TestAuthSessionsDelete(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "a@example.com", store.RoleMember, at(0))
		other := mkUser(t, s, "b@example.com", store.RoleMember, at(1))
		now := at(time.Hour)
		later := now.Add(time.Hour)

		// DeleteByHash ends exactly that session.
		mkSession(t, s, u.ID, "bye", later)
		mkSession(t, s, u.ID, "stay", later)
		noErr(t, "delete by hash", s.AuthSessions().DeleteByHash(ctx, "bye"))
		_, err := s.AuthSessions().GetValid(ctx, "bye", now)
		wantErr(t, "deleted session", err, store.ErrNotFound)
		_, err = s.AuthSessions().GetValid(ctx, "stay", now)
		noErr(t, "other session after delete by hash", err)

		// DeleteForUser keeps keepID and other users' sessions.
		keep := mkSession(t, s, u.ID, "keep", later)
		mkSession(t, s, u.ID, "drop1", later)
		mkSession(t, s, u.ID, "drop2", now.Add(-time.Minute))
		mkSession(t, s, other.ID, "other", later)
		n, err := s.AuthSessions().DeleteForUser(ctx, u.ID, keep.ID)
		noErr(t, "delete for user", err)
		if n != 3 { // stay, drop1, drop2
			t.Errorf("DeleteForUser removed %d sessions, want 3", n)
		}
		if _, err := s.AuthSessions().GetValid(ctx, "keep", now); err != nil {
			t.Errorf("kept session: %v", err)
		}
		if _, err := s.AuthSessions().GetValid(ctx, "other", now); err != nil {
			t.Errorf("other user's session: %v", err)
		}
		if c := countRows(t, s, "auth_sessions", "user_id = ?", u.ID); c != 1 {
			t.Errorf("user has %d sessions left, want 1", c)
		}
		// Without keepID, every session of the user goes.
		n, err = s.AuthSessions().DeleteForUser(ctx, u.ID, "")
		noErr(t, "delete all for user", err)
		if n != 1 || countRows(t, s, "auth_sessions", "user_id = ?", u.ID) != 0 {
			t.Errorf("DeleteForUser without keep removed %d, left %d", n, countRows(t, s, "auth_sessions", "user_id = ?", u.ID))
		}
		if c := countRows(t, s, "auth_sessions", ""); c != 1 {
			t.Errorf("%d sessions left in total, want only the other user's", c)
		}

		// DeleteExpired removes those expired at or before now, and counts them.
		mkSession(t, s, u.ID, "old1", now.Add(-time.Hour))
		mkSession(t, s, u.ID, "old2", now.Add(-time.Microsecond))
		mkSession(t, s, u.ID, "at-now", now)
		mkSession(t, s, u.ID, "fresh", now.Add(time.Microsecond))
		n, err = s.AuthSessions().DeleteExpired(ctx, now)
		noErr(t, "delete expired", err)
		if n != 3 {
			t.Errorf("DeleteExpired removed %d, want 3", n)
		}
		if _, err := s.AuthSessions().GetValid(ctx, "fresh", now); err != nil {
			t.Errorf("unexpired session after DeleteExpired: %v", err)
		}
		if c := countRows(t, s, "auth_sessions", ""); c != 2 { // other, fresh
			t.Errorf("%d sessions left, want 2", c)
		}
		n, err = s.AuthSessions().DeleteExpired(ctx, now)
		noErr(t, "delete expired again", err)
		if n != 0 {
			t.Errorf("second DeleteExpired removed %d, want 0", n)
		}
	})
}

func TestAPITokensGetValid(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "a@example.com", store.RoleMember, at(0))
		now := at(time.Hour)

		forever := mkToken(t, s, u.ID, "forever", at(0), time.Time{})
		mkToken(t, s, u.ID, "future", at(0), now.Add(time.Minute))
		mkToken(t, s, u.ID, "expired", at(0), now.Add(-time.Minute))
		mkToken(t, s, u.ID, "edge", at(0), now)
		revoked := mkToken(t, s, u.ID, "revoked", at(0), time.Time{})
		noErr(t, "revoke", s.APITokens().Revoke(ctx, u.ID, revoked.ID, now.Add(-time.Hour)))

		got, err := s.APITokens().GetValid(ctx, "forever", now)
		noErr(t, "key without expiry", err)
		if got.ID != forever.ID || !got.ExpiresAt.IsZero() || !got.RevokedAt.IsZero() {
			t.Errorf("key without expiry read back as %+v", got)
		}
		_, err = s.APITokens().GetValid(ctx, "forever", now.AddDate(100, 0, 0))
		noErr(t, "key without expiry, a century later", err)
		_, err = s.APITokens().GetValid(ctx, "future", now)
		noErr(t, "key expiring later", err)
		_, err = s.APITokens().GetValid(ctx, "expired", now)
		wantErr(t, "expired key", err, store.ErrNotFound)
		_, err = s.APITokens().GetValid(ctx, "edge", now)
		wantErr(t, "key expiring right now", err, store.ErrNotFound)
		_, err = s.APITokens().GetValid(ctx, "revoked", now)
		wantErr(t, "revoked key", err, store.ErrNotFound)
		_, err = s.APITokens().GetValid(ctx, "unknown", now)
		wantErr(t, "unknown key", err, store.ErrNotFound)

		dup := &store.APIToken{ID: uuid.NewString(), UserID: u.ID, Name: "dup", TokenHash: "forever", Prefix: "sk_x", CreatedAt: now}
		wantErr(t, "duplicate key hash", s.APITokens().Create(ctx, dup), store.ErrConflict)

		noErr(t, "touch", s.APITokens().Touch(ctx, forever.ID, now))
		got, err = s.APITokens().GetValid(ctx, "forever", now)
		noErr(t, "get touched key", err)
		sameTime(t, "last_used_at", got.LastUsedAt, now)
	})
}

func TestAPITokensScopesRoundTrip(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "a@example.com", store.RoleMember, at(0))
		for _, scopes := range [][]string{
			{"sessions:read", "sessions:write", `odd "quoted" \ scope`, "ünïcødé"},
			{},
			nil, // stored as []
		} {
			k := &store.APIToken{ID: uuid.NewString(), UserID: u.ID, Name: "k", TokenHash: uuid.NewString(), Prefix: "sk_1", Scopes: scopes, CreatedAt: at(0)}
			noErr(t, "create", s.APITokens().Create(ctx, k))
			got, err := s.APITokens().GetValid(ctx, k.TokenHash, at(0))
			noErr(t, "get", err)
			want := scopes
			if len(want) == 0 {
				want = nil
			}
			gotScopes := got.Scopes
			if len(gotScopes) == 0 {
				gotScopes = nil
			}
			if !reflect.DeepEqual(gotScopes, want) {
				t.Errorf("scopes %q read back as %q", scopes, got.Scopes)
			}
			// The column holds a JSON array, never NULL.
			var isArray bool
			q := "SELECT json_type(scopes) = 'array' FROM api_tokens WHERE id = ?"
			if s.Dialect() == store.Postgres {
				q = "SELECT jsonb_typeof(scopes) = 'array' FROM api_tokens WHERE id = ?"
			}
			noErr(t, "json type", s.DB().NewRaw(q, k.ID).Scan(ctx, &isArray))
			if !isArray {
				t.Errorf("scopes %q not stored as a JSON array", scopes)
			}
		}
	})
}

func TestAPITokensListAndRevoke(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "a@example.com", store.RoleMember, at(0))
		other := mkUser(t, s, "b@example.com", store.RoleMember, at(1))
		now := at(time.Hour)

		k1 := mkToken(t, s, u.ID, "k1", at(1*time.Second), time.Time{})
		k3 := mkToken(t, s, u.ID, "k3", at(3*time.Second+100*time.Millisecond), time.Time{})
		k2 := mkToken(t, s, u.ID, "k2", at(3*time.Second), now.Add(-time.Minute)) // expired, still listed
		gone := mkToken(t, s, u.ID, "gone", at(4*time.Second), time.Time{})
		theirs := mkToken(t, s, other.ID, "theirs", at(5*time.Second), time.Time{})

		noErr(t, "revoke", s.APITokens().Revoke(ctx, u.ID, gone.ID, now))
		wantErr(t, "revoke twice", s.APITokens().Revoke(ctx, u.ID, gone.ID, now.Add(time.Minute)), store.ErrNotFound)
		wantErr(t, "revoke a missing key", s.APITokens().Revoke(ctx, u.ID, uuid.NewString(), now), store.ErrNotFound)
		wantErr(t, "revoke another user's key", s.APITokens().Revoke(ctx, u.ID, theirs.ID, now), store.ErrNotFound)
		if _, err := s.APITokens().GetValid(ctx, "theirs", now); err != nil {
			t.Errorf("other user's key after a refused revoke: %v", err)
		}
		// The first revocation time is kept.
		var revokedAt time.Time
		noErr(t, "read revoked_at", s.DB().NewSelect().Model((*store.APIToken)(nil)).Column("revoked_at").Where("id = ?", gone.ID).Scan(ctx, &revokedAt))
		sameTime(t, "revoked_at", revokedAt, now)

		list, err := s.APITokens().ListActive(ctx, u.ID)
		noErr(t, "list", err)
		var ids []string
		for _, k := range list {
			ids = append(ids, k.ID)
			if k.UserID != u.ID {
				t.Errorf("ListActive returned a key of user %s", k.UserID)
			}
		}
		want := []string{k3.ID, k2.ID, k1.ID}
		if !reflect.DeepEqual(ids, want) {
			t.Errorf("ListActive = %v, want %v (k3, k2, k1)", ids, want)
		}

		list, err = s.APITokens().ListActive(ctx, uuid.NewString())
		noErr(t, "list for unknown user", err)
		if len(list) != 0 {
			t.Errorf("ListActive of an unknown user returned %d keys", len(list))
		}
	})
}

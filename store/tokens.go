package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// AuthSession is a login: the SHA-256 of a bearer token with an expiry.
type AuthSession struct {
	bun.BaseModel `bun:"table:auth_sessions"`

	ID         string    `bun:"id,pk"`
	UserID     string    `bun:"user_id,notnull"`
	TokenHash  string    `bun:"token_hash,notnull"`
	Provider   string    `bun:"provider,notnull"`
	ExpiresAt  time.Time `bun:"expires_at,notnull"`
	CreatedAt  time.Time `bun:"created_at,notnull"`
	LastUsedAt time.Time `bun:"last_used_at,nullzero"`

	// User is filled by GetValid (one query for token and owner).
	User *User `bun:"rel:belongs-to,join:user_id=id"`
}

// APIToken is a long-lived `sk_` key: its hash, a display prefix, an
// optional expiry and a soft revocation.
type APIToken struct {
	bun.BaseModel `bun:"table:api_tokens"`

	ID         string    `bun:"id,pk"`
	UserID     string    `bun:"user_id,notnull"`
	Name       string    `bun:"name,notnull"`
	TokenHash  string    `bun:"token_hash,notnull"`
	Prefix     string    `bun:"prefix,notnull"`
	Scopes     []string  `bun:"scopes,type:jsonb,notnull"`
	LastUsedAt time.Time `bun:"last_used_at,nullzero"`
	ExpiresAt  time.Time `bun:"expires_at,nullzero"`
	RevokedAt  time.Time `bun:"revoked_at,nullzero"`
	CreatedAt  time.Time `bun:"created_at,notnull"`

	// User is filled by GetValid (one query for key and owner).
	User *User `bun:"rel:belongs-to,join:user_id=id"`
}

// AuthSessions is the repository of login sessions.
type AuthSessions struct{ s *Store }

// AuthSessions returns the login session repository.
func (s *Store) AuthSessions() AuthSessions { return AuthSessions{s} }

// Create inserts a login session.
func (r AuthSessions) Create(ctx context.Context, a *AuthSession) error {
	_, err := r.s.w.NewInsert().Model(a).Exec(ctx)
	return wrap("create login session", err)
}

// GetValid returns the unexpired login session with tokenHash, and its
// user.
func (r AuthSessions) GetValid(ctx context.Context, tokenHash string, now time.Time) (*AuthSession, error) {
	a := new(AuthSession)
	err := r.s.r.NewSelect().Model(a).Relation("User").
		Where("auth_session.token_hash = ?", tokenHash).Where("auth_session.expires_at > ?", now).Scan(ctx)
	return a, wrap("get login session", err)
}

// Touch records a use of the login session.
func (r AuthSessions) Touch(ctx context.Context, id string, at time.Time) error {
	_, err := r.s.w.NewUpdate().Model((*AuthSession)(nil)).Set("last_used_at = ?", at).Where("id = ?", id).Exec(ctx)
	return wrap("touch login session", err)
}

// DeleteByHash ends the login session with tokenHash.
func (r AuthSessions) DeleteByHash(ctx context.Context, tokenHash string) error {
	_, err := r.s.w.NewDelete().Model((*AuthSession)(nil)).Where("token_hash = ?", tokenHash).Exec(ctx)
	return wrap("delete login session", err)
}

// DeleteForUser ends every login session of a user except keepID.
func (r AuthSessions) DeleteForUser(ctx context.Context, userID, keepID string) (int, error) {
	q := r.s.w.NewDelete().Model((*AuthSession)(nil)).Where("user_id = ?", userID)
	if keepID != "" {
		q = q.Where("id <> ?", keepID)
	}
	res, err := q.Exec(ctx)
	if err != nil {
		return 0, wrap("delete login sessions", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// DeleteExpired removes login sessions that expired before now.
func (r AuthSessions) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	res, err := r.s.w.NewDelete().Model((*AuthSession)(nil)).Where("expires_at <= ?", now).Exec(ctx)
	if err != nil {
		return 0, wrap("delete expired login sessions", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// APITokens is the repository of API keys.
type APITokens struct{ s *Store }

// APITokens returns the API key repository.
func (s *Store) APITokens() APITokens { return APITokens{s} }

// Create inserts an API key.
func (r APITokens) Create(ctx context.Context, t *APIToken) error {
	if t.Scopes == nil {
		t.Scopes = []string{}
	}
	_, err := r.s.w.NewInsert().Model(t).Exec(ctx)
	return wrap("create api key", err)
}

// GetValid returns the API key with tokenHash if it is neither revoked nor
// expired at now, and its user.
func (r APITokens) GetValid(ctx context.Context, tokenHash string, now time.Time) (*APIToken, error) {
	t := new(APIToken)
	err := r.s.r.NewSelect().Model(t).Relation("User").
		Where("api_token.token_hash = ?", tokenHash).
		Where("api_token.revoked_at IS NULL").
		Where("(api_token.expires_at IS NULL OR api_token.expires_at > ?)", now).
		Scan(ctx)
	return t, wrap("get api key", err)
}

// Touch records a use of the API key.
func (r APITokens) Touch(ctx context.Context, id string, at time.Time) error {
	_, err := r.s.w.NewUpdate().Model((*APIToken)(nil)).Set("last_used_at = ?", at).Where("id = ?", id).Exec(ctx)
	return wrap("touch api key", err)
}

// ListActive returns a user's keys that are not revoked, newest first.
func (r APITokens) ListActive(ctx context.Context, userID string) ([]APIToken, error) {
	var out []APIToken
	err := r.s.r.NewSelect().Model(&out).
		Where("user_id = ?", userID).
		Where("revoked_at IS NULL").
		OrderExpr("created_at DESC, id DESC").
		Scan(ctx)
	return out, wrap("list api keys", err)
}

// Revoke marks the user's key revoked; a missing or already revoked key is
// ErrNotFound.
func (r APITokens) Revoke(ctx context.Context, userID, id string, at time.Time) error {
	res, err := r.s.w.NewUpdate().Model((*APIToken)(nil)).
		Set("revoked_at = ?", at).
		Where("id = ?", id).Where("user_id = ?", userID).Where("revoked_at IS NULL").
		Exec(ctx)
	return affectedOne("revoke api key", res, err)
}

// GetValidByID returns the unexpired login session with id, and its user
// (for credentials recorded elsewhere, like an event ticket's).
func (r AuthSessions) GetValidByID(ctx context.Context, id string, now time.Time) (*AuthSession, error) {
	a := new(AuthSession)
	err := r.s.r.NewSelect().Model(a).Relation("User").
		Where("auth_session.id = ?", id).Where("auth_session.expires_at > ?", now).Scan(ctx)
	return a, wrap("get login session", err)
}

// GetValidByID returns the API key with id if it is neither revoked nor
// expired at now, and its user.
func (r APITokens) GetValidByID(ctx context.Context, id string, now time.Time) (*APIToken, error) {
	t := new(APIToken)
	err := r.s.r.NewSelect().Model(t).Relation("User").
		Where("api_token.id = ?", id).
		Where("api_token.revoked_at IS NULL").
		Where("(api_token.expires_at IS NULL OR api_token.expires_at > ?)", now).
		Scan(ctx)
	return t, wrap("get api key", err)
}

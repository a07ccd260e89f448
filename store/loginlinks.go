package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// LoginLink is a one-time login link; the token is stored hashed.
type LoginLink struct {
	bun.BaseModel `bun:"table:login_links"`

	ID        string    `bun:"id,pk"`
	UserID    string    `bun:"user_id,notnull"`
	TokenHash string    `bun:"token_hash,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
	ExpiresAt time.Time `bun:"expires_at,notnull"`
	UsedAt    time.Time `bun:"used_at,nullzero"`
}

// LoginLinks is the repository of login links.
type LoginLinks struct{ s *Store }

// LoginLinks returns the login link repository.
func (s *Store) LoginLinks() LoginLinks { return LoginLinks{s} }

// Create stores a link.
func (r LoginLinks) Create(ctx context.Context, l *LoginLink) error {
	_, err := r.s.w.NewInsert().Model(l).Exec(ctx)
	return wrap("create login link", err)
}

// Use marks the unexpired, unused link with tokenHash used and returns
// it; ErrNotFound when there is none. Two concurrent uses: one wins.
func (r LoginLinks) Use(ctx context.Context, tokenHash string, now time.Time) (*LoginLink, error) {
	l := new(LoginLink)
	err := r.s.InTx(ctx, func(tx *Store) error {
		if err := tx.w.NewSelect().Model(l).Where("token_hash = ?", tokenHash).Where("used_at IS NULL").
			Where("expires_at > ?", now).Scan(ctx); err != nil {
			return wrap("use login link", err)
		}
		res, err := tx.w.NewUpdate().Model((*LoginLink)(nil)).Set("used_at = ?", now).
			Where("id = ?", l.ID).Where("used_at IS NULL").Exec(ctx)
		if err != nil {
			return wrap("use login link", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		l.UsedAt = now
		return nil
	})
	return l, err
}

package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// Invite lets someone sign up (or take a role) with a code.
type Invite struct {
	bun.BaseModel `bun:"table:invites"`

	ID         string    `bun:"id,pk"`
	Code       string    `bun:"code,notnull"`
	Email      string    `bun:"email,nullzero"`
	Role       string    `bun:"role,notnull"`
	InvitedBy  string    `bun:"invited_by,nullzero"`
	AcceptedAt time.Time `bun:"accepted_at,nullzero"`
	AcceptedBy string    `bun:"accepted_by,nullzero"`
	ExpiresAt  time.Time `bun:"expires_at,notnull"`
	CreatedAt  time.Time `bun:"created_at,notnull"`
}

// Invites is the repository of invites.
type Invites struct{ s *Store }

// Invites returns the invite repository.
func (s *Store) Invites() Invites { return Invites{s} }

// Create inserts an invite.
func (r Invites) Create(ctx context.Context, inv *Invite) error {
	_, err := r.s.w.NewInsert().Model(inv).Exec(ctx)
	return wrap("create invite", err)
}

// GetByCode returns the invite with code, whatever its state.
func (r Invites) GetByCode(ctx context.Context, code string) (*Invite, error) {
	inv := new(Invite)
	err := r.s.r.NewSelect().Model(inv).Where("code = ?", code).Scan(ctx)
	return inv, wrap("get invite", err)
}

// FindOpenForEmail returns the newest unaccepted, unexpired invite addressed
// to email.
func (r Invites) FindOpenForEmail(ctx context.Context, email string, now time.Time) (*Invite, error) {
	inv := new(Invite)
	err := r.s.r.NewSelect().Model(inv).
		Where("email = ?", email).Where("accepted_at IS NULL").Where("expires_at > ?", now).
		OrderExpr("created_at DESC, id DESC").Limit(1).Scan(ctx)
	return inv, wrap("find invite for email", err)
}

// List returns every invite, newest first.
func (r Invites) List(ctx context.Context) ([]Invite, error) {
	var out []Invite
	err := r.s.r.NewSelect().Model(&out).OrderExpr("created_at DESC, id DESC").Scan(ctx)
	return out, wrap("list invites", err)
}

// MarkAccepted records that userID took the invite. It fails with
// ErrNotFound if the invite was accepted meanwhile or has expired, so an
// invite is used once even when two requests race.
func (r Invites) MarkAccepted(ctx context.Context, id, userID string, at time.Time) error {
	res, err := r.s.w.NewUpdate().Model((*Invite)(nil)).
		Set("accepted_at = ?", at).Set("accepted_by = ?", userID).
		Where("id = ?", id).Where("accepted_at IS NULL").Where("expires_at > ?", at).
		Exec(ctx)
	return affectedOne("accept invite", res, err)
}

// Delete removes an invite.
func (r Invites) Delete(ctx context.Context, id string) error {
	res, err := r.s.w.NewDelete().Model((*Invite)(nil)).Where("id = ?", id).Exec(ctx)
	return affectedOne("delete invite", res, err)
}

// DeleteExpired removes invites that expired without being accepted and
// returns how many.
func (r Invites) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	res, err := r.s.w.NewDelete().Model((*Invite)(nil)).Where("accepted_at IS NULL").Where("expires_at < ?", now).Exec(ctx)
	if err != nil {
		return 0, wrap("delete expired invites", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

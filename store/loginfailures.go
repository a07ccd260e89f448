package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// LoginFailure records one failed password login, for the limit per email
// and client address.
// It lives in the database so that every replica counts the same attempts
// and a restart does not reset the limit.
type LoginFailure struct {
	bun.BaseModel `bun:"table:login_failures"`

	ID    string `bun:"id,pk"`
	Email string `bun:"email,notnull"`
	// ClientAddr is the client's IP address ("" when unknown, as from the
	// command line).
	ClientAddr string    `bun:"client_addr,notnull"`
	CreatedAt  time.Time `bun:"created_at,notnull"`
}

// LoginFailures is the repository of failed login attempts.
type LoginFailures struct{ s *Store }

// LoginFailures returns the failed login repository.
func (s *Store) LoginFailures() LoginFailures { return LoginFailures{s} }

// Record adds a failure for email from client at time at.
func (r LoginFailures) Record(ctx context.Context, email, client string, at time.Time) error {
	_, err := r.s.w.NewInsert().Model(&LoginFailure{ID: uuid.NewString(), Email: email, ClientAddr: client, CreatedAt: at}).Exec(ctx)
	return wrap("record login failure", err)
}

// Since returns the count of failures for email from client after since,
// and the time of the oldest of them.
func (r LoginFailures) Since(ctx context.Context, email, client string, since time.Time) (int, time.Time, error) {
	var rows []LoginFailure
	err := r.s.r.NewSelect().Model(&rows).Column("created_at").
		Where("email = ?", email).Where("client_addr = ?", client).Where("created_at > ?", since).
		OrderExpr("created_at ASC").Scan(ctx)
	if err != nil || len(rows) == 0 {
		return 0, time.Time{}, wrap("count login failures", err)
	}
	return len(rows), rows[0].CreatedAt, nil
}

// Clear forgets the failures of email from client (after a successful
// login from there).
func (r LoginFailures) Clear(ctx context.Context, email, client string) error {
	_, err := r.s.w.NewDelete().Model((*LoginFailure)(nil)).Where("email = ?", email).Where("client_addr = ?", client).Exec(ctx)
	return wrap("clear login failures", err)
}

// ClearEmail forgets every failure of email, from every address (a new
// password, or an admin's unlock), and says how many there were.
func (r LoginFailures) ClearEmail(ctx context.Context, email string) (int, error) {
	res, err := r.s.w.NewDelete().Model((*LoginFailure)(nil)).Where("email = ?", email).Exec(ctx)
	if err != nil {
		return 0, wrap("clear login failures", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// DeleteBefore removes failures older than cutoff.
func (r LoginFailures) DeleteBefore(ctx context.Context, cutoff time.Time) (int, error) {
	res, err := r.s.w.NewDelete().Model((*LoginFailure)(nil)).Where("created_at <= ?", cutoff).Exec(ctx)
	if err != nil {
		return 0, wrap("delete old login failures", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/uptrace/bun"
)

// UserEventStream is a user's event stream: its epoch and the last
// sequence number given out.
type UserEventStream struct {
	bun.BaseModel `bun:"table:user_event_streams,alias:ues"`

	UserID    string    `bun:"user_id,pk"`
	Epoch     string    `bun:"epoch,notnull"`
	LastSeq   int64     `bun:"last_seq,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
}

// UserEvent is one event of a user's stream.
type UserEvent struct {
	bun.BaseModel `bun:"table:user_events,alias:ue"`

	UserID    string          `bun:"user_id,pk"`
	Seq       int64           `bun:"seq,pk"`
	Type      string          `bun:"type,notnull"`
	SessionID string          `bun:"session_id,nullzero"`
	Data      json.RawMessage `bun:"data,type:jsonb,notnull"`
	CreatedAt time.Time       `bun:"created_at,notnull"`
}

// UserEvents is the repository of the user event streams.
type UserEvents struct{ s *Store }

// UserEvents returns the user event repository.
func (s *Store) UserEvents() UserEvents { return UserEvents{s} }

// Stream returns the user's stream, creating it with epoch newEpoch (and
// no events) if the user has none yet. Only the first call writes.
func (r UserEvents) Stream(ctx context.Context, userID, newEpoch string, now time.Time) (*UserEventStream, error) {
	out := new(UserEventStream)
	err := r.s.r.NewSelect().Model(out).Where("user_id = ?", userID).Scan(ctx)
	if err == nil {
		return out, nil
	}
	if err = wrap("get event stream", err); !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	st := &UserEventStream{UserID: userID, Epoch: newEpoch, CreatedAt: now}
	if _, err := r.s.w.NewInsert().Model(st).On("CONFLICT (user_id) DO NOTHING").Exec(ctx); err != nil {
		return nil, wrap("create event stream", err)
	}
	err = r.s.w.NewSelect().Model(out).Where("user_id = ?", userID).Scan(ctx)
	return out, wrap("get event stream", err)
}

// Append gives e the next sequence number of its user's stream (creating
// the stream with epoch newEpoch if needed), stores it, and returns the
// stream's epoch. Appends to one stream are serialized by its row.
func (r UserEvents) Append(ctx context.Context, e *UserEvent, newEpoch string) (string, error) {
	if e.Data == nil {
		e.Data = json.RawMessage("null")
	}
	var epoch string
	err := r.s.InTx(ctx, func(tx *Store) error {
		st := &UserEventStream{UserID: e.UserID, Epoch: newEpoch, LastSeq: 1, CreatedAt: e.CreatedAt}
		err := tx.w.NewInsert().Model(st).
			On("CONFLICT (user_id) DO UPDATE").
			Set("last_seq = ues.last_seq + 1").
			Returning("epoch, last_seq").
			Scan(ctx, &st.Epoch, &st.LastSeq)
		if err != nil {
			return wrap("advance event stream", err)
		}
		e.Seq, epoch = st.LastSeq, st.Epoch
		_, err = tx.w.NewInsert().Model(e).Exec(ctx)
		return wrap("append event", err)
	})
	return epoch, err
}

// After returns up to limit events of the user with a sequence number
// above after, oldest first.
func (r UserEvents) After(ctx context.Context, userID string, after int64, limit int) ([]UserEvent, error) {
	var out []UserEvent
	err := r.s.r.NewSelect().Model(&out).
		Where("user_id = ?", userID).Where("seq > ?", after).
		OrderExpr("seq ASC").Limit(int64(limit)).Scan(ctx)
	return out, wrap("list events", err)
}

// OldestSeq returns the smallest sequence number still kept for the user,
// or 0 when none is.
func (r UserEvents) OldestSeq(ctx context.Context, userID string) (int64, error) {
	var seq *int64
	err := r.s.r.NewSelect().Model((*UserEvent)(nil)).ColumnExpr("MIN(seq)").
		Where("user_id = ?", userID).Scan(ctx, &seq)
	if err != nil {
		return 0, wrap("oldest event", err)
	}
	if seq == nil {
		return 0, nil
	}
	return *seq, nil
}

// TrimUser keeps the user's newest keep events and deletes the others.
func (r UserEvents) TrimUser(ctx context.Context, userID string, lastSeq int64, keep int) (int, error) {
	res, err := r.s.w.NewDelete().Model((*UserEvent)(nil)).
		Where("user_id = ?", userID).Where("seq <= ?", lastSeq-int64(keep)).Exec(ctx)
	return rowsAffected("trim events", res, err)
}

// DeleteBefore deletes, for every user, the events up to the newest one
// created before t. Deleting by sequence rather than by time alone keeps
// what is left gapless even when clocks made an older sequence number
// carry a later time.
func (r UserEvents) DeleteBefore(ctx context.Context, t time.Time) (int, error) {
	res, err := r.s.w.NewDelete().TableExpr("user_events").
		Where("seq <= (SELECT MAX(old.seq) FROM user_events AS old WHERE old.user_id = user_events.user_id AND old.created_at < ?)", t).
		Exec(ctx)
	return rowsAffected("delete old events", res, err)
}

func rowsAffected(op string, res interface{ RowsAffected() (int64, error) }, err error) (int, error) {
	if err != nil {
		return 0, wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrap(op, err)
	}
	return int(n), nil
}

// EventTicket is a short-lived credential for the event stream, for
// clients that cannot send an Authorization header.
type EventTicket struct {
	bun.BaseModel `bun:"table:event_tickets"`

	TokenHash     string    `bun:"token_hash,pk"`
	UserID        string    `bun:"user_id,notnull"`
	AuthSessionID string    `bun:"auth_session_id,nullzero"`
	APITokenID    string    `bun:"api_token_id,nullzero"`
	ExpiresAt     time.Time `bun:"expires_at,notnull"`
	CreatedAt     time.Time `bun:"created_at,notnull"`
	UsedAt        time.Time `bun:"used_at,nullzero"`
	Holder        string    `bun:"holder,nullzero"`
	HeldUntil     time.Time `bun:"held_until,nullzero"`
}

// EventTickets is the repository of event stream tickets.
type EventTickets struct{ s *Store }

// EventTickets returns the event ticket repository.
func (s *Store) EventTickets() EventTickets { return EventTickets{s} }

// Create inserts a ticket.
func (r EventTickets) Create(ctx context.Context, t *EventTicket) error {
	_, err := r.s.w.NewInsert().Model(t).Exec(ctx)
	return wrap("create event ticket", err)
}

// ErrTicketInUse means a ticket exists and is unexpired but may not be
// used now: it was used before and this is not a resume, or another
// stream holds it.
var ErrTicketInUse = errors.New("ticket already used")

// Claim makes holder the stream that holds the unexpired ticket, until
// heldUntil. A ticket never used can always be claimed; a used one only
// to resume (resume true) and only while no other stream holds it. An
// unknown or expired ticket is ErrNotFound; one that may not be claimed
// is ErrTicketInUse.
func (r EventTickets) Claim(ctx context.Context, tokenHash, holder string, resume bool, now, heldUntil time.Time) (*EventTicket, error) {
	t := new(EventTicket)
	q := r.s.w.NewUpdate().Model(t).
		Set("holder = ?", holder).Set("held_until = ?", heldUntil).Set("used_at = COALESCE(used_at, ?)", now).
		Where("token_hash = ?", tokenHash).Where("expires_at > ?", now)
	if resume {
		q = q.Where("(used_at IS NULL OR held_until IS NULL OR held_until <= ?)", now)
	} else {
		q = q.Where("used_at IS NULL")
	}
	err := q.Returning("*").Scan(ctx)
	if err == nil {
		return t, nil
	}
	if err = wrap("claim event ticket", err); !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	n, cerr := r.s.w.NewSelect().Model((*EventTicket)(nil)).
		Where("token_hash = ?", tokenHash).Where("expires_at > ?", now).Count(ctx)
	if cerr != nil {
		return nil, wrap("claim event ticket", cerr)
	}
	if n > 0 {
		return nil, ErrTicketInUse
	}
	return nil, err
}

// Refresh extends holder's hold on the ticket; ErrNotFound if it no longer
// holds it.
func (r EventTickets) Refresh(ctx context.Context, tokenHash, holder string, heldUntil time.Time) error {
	res, err := r.s.w.NewUpdate().Model((*EventTicket)(nil)).Set("held_until = ?", heldUntil).
		Where("token_hash = ?", tokenHash).Where("holder = ?", holder).Exec(ctx)
	return affectedOne("refresh event ticket", res, err)
}

// Release ends holder's hold on the ticket, so the stream can resume
// elsewhere at once.
func (r EventTickets) Release(ctx context.Context, tokenHash, holder string) error {
	_, err := r.s.w.NewUpdate().Model((*EventTicket)(nil)).Set("held_until = NULL").
		Where("token_hash = ?", tokenHash).Where("holder = ?", holder).Exec(ctx)
	return wrap("release event ticket", err)
}

// DeleteExpired removes tickets that expired before now.
func (r EventTickets) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	res, err := r.s.w.NewDelete().Model((*EventTicket)(nil)).Where("expires_at <= ?", now).Exec(ctx)
	return rowsAffected("delete expired event tickets", res, err)
}

package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// Notification message types.
const (
	NoticeNotification = "notification"
	NoticeQuestion     = "question"
	NoticeApproval     = "approval"
)

// Notification is one entry of a user's inbox.
type Notification struct {
	bun.BaseModel `bun:"table:notifications"`

	ID                 string    `bun:"id,pk"`
	UserID             string    `bun:"user_id,notnull"`
	MessageType        string    `bun:"message_type,notnull"`
	EventType          string    `bun:"event_type,notnull"`
	Content            string    `bun:"content,notnull"`
	Read               bool      `bun:"read,notnull"`
	ContextSessionID   string    `bun:"context_session_id,nullzero"`
	ContextExecutionID string    `bun:"context_execution_id,nullzero"`
	CreatedAt          time.Time `bun:"created_at,notnull"`
	UpdatedAt          time.Time `bun:"updated_at,notnull"`
}

// Notifications is the repository of users' inboxes.
type Notifications struct{ s *Store }

// Notifications returns the inbox repository.
func (s *Store) Notifications() Notifications { return Notifications{s} }

// Insert adds a notification.
func (r Notifications) Insert(ctx context.Context, n *Notification) error {
	_, err := r.s.w.NewInsert().Model(n).Exec(ctx)
	return wrap("insert notification", err)
}

// NotificationCursor is the position after which a page starts (newest
// first); the zero value starts with the newest.
type NotificationCursor struct {
	CreatedAt time.Time
	ID        string
}

// NotificationFilter narrows an inbox listing.
type NotificationFilter struct {
	UnreadOnly  bool
	MessageType string // empty: any
}

// List returns a user's notifications, newest first, after the cursor.
func (r Notifications) List(ctx context.Context, userID string, f NotificationFilter, after NotificationCursor, limit int) ([]Notification, error) {
	var out []Notification
	q := r.s.r.NewSelect().Model(&out).Where("user_id = ?", userID).OrderExpr("created_at DESC, id DESC").Limit(int64(limit))
	if f.UnreadOnly {
		q = q.Where("read = ?", false)
	}
	if f.MessageType != "" {
		q = q.Where("message_type = ?", f.MessageType)
	}
	if after.ID != "" {
		q = q.Where("(created_at < ? OR (created_at = ? AND id < ?))", after.CreatedAt, after.CreatedAt, after.ID)
	}
	err := q.Scan(ctx)
	return out, wrap("list notifications", err)
}

// CountUnread returns how many of a user's notifications are unread.
func (r Notifications) CountUnread(ctx context.Context, userID string) (int, error) {
	n, err := r.s.r.NewSelect().Model((*Notification)(nil)).Where("user_id = ?", userID).Where("read = ?", false).Count(ctx)
	return int(n), wrap("count unread notifications", err)
}

// MarkRead marks one of a user's notifications read (ErrNotFound when the
// user has no such notification; marking a read one again is fine).
func (r Notifications) MarkRead(ctx context.Context, userID, id string, now time.Time) error {
	res, err := r.s.w.NewUpdate().Model((*Notification)(nil)).
		Set("read = ?", true).Set("updated_at = ?", now).
		Where("id = ?", id).Where("user_id = ?", userID).Exec(ctx)
	return affectedOne("mark notification read", res, err)
}

// MarkAllRead marks a user's unread notifications read, only those of
// the given types when types is not empty, and returns how many.
func (r Notifications) MarkAllRead(ctx context.Context, userID string, types []string, now time.Time) (int, error) {
	q := r.s.w.NewUpdate().Model((*Notification)(nil)).Set("read = ?", true).Set("updated_at = ?", now).
		Where("user_id = ?", userID).Where("read = ?", false)
	if len(types) > 0 {
		q = q.Where("message_type IN (?)", bun.In(types))
	}
	res, err := q.Exec(ctx)
	if err != nil {
		return 0, wrap("mark notifications read", err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap("mark notifications read", err)
}

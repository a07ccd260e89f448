// Package notify keeps users' inboxes (upstream's mailbox notifications):
// notices that a session asked a question while its owner was away, or
// ended, or failed. Each notification is stored, then published on the
// user's event stream through a Publisher.
package notify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/store"
)

// EventType is the type of the event a new notification is published as.
const EventType = "notification"

// MaxContentRunes bounds a notification's text.
const MaxContentRunes = 2000

// Page limits of List.
const (
	DefaultLimit = 50
	MaxLimit     = 100
)

// Publisher puts an event on a user's event stream. The user event bus
// implements it; until it is wired, the composition root publishes on the
// user's pub/sub topic.
type Publisher interface {
	Publish(ctx context.Context, userID, eventType string, data any) error
}

// Service is the inbox domain.
type Service struct {
	st  *store.Store
	pub Publisher
	now func() time.Time
	log *slog.Logger
}

// New returns the inbox service; pub and now may be nil.
func New(st *store.Store, pub Publisher, now func() time.Time, log *slog.Logger) *Service {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{st: st, pub: pub, now: now, log: log}
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Input is a notification to create.
type Input struct {
	UserID             string
	MessageType        string // notification (default), question, approval
	EventType          string // what caused it: session.completed, question.asked …
	Content            string
	ContextSessionID   string
	ContextExecutionID string
}

// View is a notification as clients see it.
type View struct {
	ID                 string
	MessageType        string
	Content            string
	Read               bool
	CreatedAt          time.Time
	ContextSessionID   string
	ContextExecutionID string
}

// MarshalJSON renders the REST shape (also what the event carries):
// {id, messageType, content, read, createdAt, contextSessionId?,
// contextExecutionId?} with an ISO-8601 UTC time.
func (v View) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID                 string `json:"id"`
		MessageType        string `json:"messageType"`
		Content            string `json:"content"`
		Read               bool   `json:"read"`
		CreatedAt          string `json:"createdAt"`
		ContextSessionID   string `json:"contextSessionId,omitempty"`
		ContextExecutionID string `json:"contextExecutionId,omitempty"`
	}{v.ID, v.MessageType, v.Content, v.Read, v.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z"), v.ContextSessionID, v.ContextExecutionID})
}

func viewOf(n *store.Notification) View {
	return View{ID: n.ID, MessageType: n.MessageType, Content: n.Content, Read: n.Read, CreatedAt: n.CreatedAt,
		ContextSessionID: n.ContextSessionID, ContextExecutionID: n.ContextExecutionID}
}

// Truncate cuts s to at most max runes, marking the cut with an ellipsis.
func Truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

func validType(t string) bool {
	return t == store.NoticeNotification || t == store.NoticeQuestion || t == store.NoticeApproval
}

// Create stores a notification and publishes it on the user's stream.
// A failed publish is logged: the inbox (the truth) has it, and clients
// reload the count.
func (s *Service) Create(ctx context.Context, in Input) (*View, error) {
	if in.MessageType == "" {
		in.MessageType = store.NoticeNotification
	}
	if !validType(in.MessageType) {
		return nil, fmt.Errorf("notification type %q", in.MessageType)
	}
	now := s.clock()
	n := &store.Notification{ID: uuid.NewString(), UserID: in.UserID, MessageType: in.MessageType, EventType: in.EventType,
		Content: Truncate(strings.TrimSpace(in.Content), MaxContentRunes), ContextSessionID: in.ContextSessionID,
		ContextExecutionID: in.ContextExecutionID, CreatedAt: now, UpdatedAt: now}
	if err := s.st.Notifications().Insert(ctx, n); err != nil {
		return nil, err
	}
	v := viewOf(n)
	if s.pub != nil {
		if err := s.pub.Publish(ctx, n.UserID, EventType, v); err != nil {
			s.log.Warn("publish notification", "user_id", n.UserID, "notification_id", n.ID, "err", err)
		}
	}
	return &v, nil
}

// Query is GET /api/me/notifications.
type Query struct {
	Cursor      string
	Limit       int // 0: DefaultLimit
	UnreadOnly  bool
	MessageType string
}

// Page is a page of the inbox, newest first.
type Page struct {
	Messages []View
	Cursor   string // empty on the last page
	HasMore  bool
}

// EncodeCursor makes the opaque cursor that continues after n.
func EncodeCursor(c store.NotificationCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + c.ID))
}

// DecodeCursor reads a cursor from EncodeCursor.
func DecodeCursor(s string) (store.NotificationCursor, error) {
	bad := apperr.Invalid("cursor", "cursor is not one this server returned")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return store.NotificationCursor{}, bad
	}
	ts, id, ok := strings.Cut(string(raw), "|")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if !ok || err != nil || uuid.Validate(id) != nil {
		return store.NotificationCursor{}, bad
	}
	return store.NotificationCursor{CreatedAt: t.UTC(), ID: id}, nil
}

// List returns a page of the user's inbox.
func (s *Service) List(ctx context.Context, userID string, q Query) (*Page, error) {
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	if q.Limit < 1 || q.Limit > MaxLimit {
		return nil, apperr.Invalid("limit", "limit must be from 1 to %d", MaxLimit)
	}
	if q.MessageType != "" && !validType(q.MessageType) {
		return nil, apperr.Invalid("messageType", "messageType must be notification, question or approval")
	}
	var after store.NotificationCursor
	if q.Cursor != "" {
		var err error
		if after, err = DecodeCursor(q.Cursor); err != nil {
			return nil, err
		}
	}
	rows, err := s.st.Notifications().List(ctx, userID, store.NotificationFilter{UnreadOnly: q.UnreadOnly, MessageType: q.MessageType}, after, q.Limit+1)
	if err != nil {
		return nil, err
	}
	page := &Page{Messages: make([]View, 0, min(len(rows), q.Limit))}
	if len(rows) > q.Limit {
		rows = rows[:q.Limit]
		last := rows[len(rows)-1]
		page.HasMore = true
		page.Cursor = EncodeCursor(store.NotificationCursor{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	for i := range rows {
		page.Messages = append(page.Messages, viewOf(&rows[i]))
	}
	return page, nil
}

// CountUnread returns how many of the user's notifications are unread.
func (s *Service) CountUnread(ctx context.Context, userID string) (int, error) {
	return s.st.Notifications().CountUnread(ctx, userID)
}

// MarkRead marks one of the user's notifications read.
func (s *Service) MarkRead(ctx context.Context, userID, id string) error {
	if uuid.Validate(id) != nil {
		return apperr.NotFound("Notification")
	}
	err := s.st.Notifications().MarkRead(ctx, userID, id, s.clock())
	if errors.Is(err, store.ErrNotFound) {
		return apperr.NotFound("Notification")
	}
	return err
}

// MarkAllRead marks every unread notification of the user read.
func (s *Service) MarkAllRead(ctx context.Context, userID string) (int, error) {
	return s.st.Notifications().MarkAllRead(ctx, userID, nil, s.clock())
}

// MarkNonActionableRead marks the user's unread notifications that ask for
// nothing (type notification) read; questions and approvals stay.
func (s *Service) MarkNonActionableRead(ctx context.Context, userID string) (int, error) {
	return s.st.Notifications().MarkAllRead(ctx, userID, []string{store.NoticeNotification}, s.clock())
}

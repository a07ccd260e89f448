package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func TestNotificationsRepository(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		r := s.Notifications()
		u := mkUser(t, s, "a@example.com", store.RoleMember, base)
		other := mkUser(t, s, "b@example.com", store.RoleMember, base)
		sess := mkAgentSession(t, s, u.ID, "running", base)
		types := []string{store.NoticeNotification, store.NoticeQuestion, store.NoticeNotification, store.NoticeApproval, store.NoticeNotification}
		var ids []string
		for i, typ := range types {
			n := &store.Notification{ID: uuid.NewString(), UserID: u.ID, MessageType: typ, Content: "n",
				ContextSessionID: sess.ID, CreatedAt: at(time.Duration(i/2) * time.Second), UpdatedAt: base} // pairs share a time
			noErr(t, "insert", r.Insert(ctx, n))
			ids = append(ids, n.ID)
		}
		noErr(t, "insert other's", r.Insert(ctx, &store.Notification{ID: uuid.NewString(), UserID: other.ID,
			MessageType: store.NoticeNotification, Content: "x", CreatedAt: base, UpdatedAt: base}))

		// Pages of 2, newest first, each once.
		seen := map[string]bool{}
		var after store.NotificationCursor
		var prev time.Time
		for {
			page, err := r.List(ctx, u.ID, store.NotificationFilter{}, after, 2)
			noErr(t, "list", err)
			if len(page) == 0 {
				break
			}
			for _, n := range page {
				if seen[n.ID] {
					t.Fatalf("%s listed twice", n.ID)
				}
				if !prev.IsZero() && n.CreatedAt.After(prev) {
					t.Fatal("not newest first")
				}
				seen[n.ID], prev = true, n.CreatedAt
			}
			last := page[len(page)-1]
			after = store.NotificationCursor{CreatedAt: last.CreatedAt, ID: last.ID}
		}
		if len(seen) != len(ids) {
			t.Fatalf("listed %d of %d", len(seen), len(ids))
		}
		qs, err := r.List(ctx, u.ID, store.NotificationFilter{MessageType: store.NoticeQuestion}, store.NotificationCursor{}, 10)
		noErr(t, "list questions", err)
		if len(qs) != 1 || qs[0].ID != ids[1] {
			t.Fatalf("questions: %+v", qs)
		}

		n, err := r.CountUnread(ctx, u.ID)
		noErr(t, "count", err)
		if n != 5 {
			t.Fatalf("unread = %d, want 5", n)
		}
		wantErr(t, "mark another user's", r.MarkRead(ctx, other.ID, ids[0], at(time.Hour)), store.ErrNotFound)
		noErr(t, "mark read", r.MarkRead(ctx, u.ID, ids[0], at(time.Hour)))
		noErr(t, "mark read again", r.MarkRead(ctx, u.ID, ids[0], at(time.Hour)))
		unread, err := r.List(ctx, u.ID, store.NotificationFilter{UnreadOnly: true}, store.NotificationCursor{}, 10)
		noErr(t, "unread", err)
		if len(unread) != 4 {
			t.Fatalf("unread listing: %d, want 4", len(unread))
		}
		k, err := r.MarkAllRead(ctx, u.ID, []string{store.NoticeNotification}, at(time.Hour))
		noErr(t, "mark non-actionable", err)
		if k != 2 {
			t.Fatalf("non-actionable marked %d, want 2", k)
		}
		k, err = r.MarkAllRead(ctx, u.ID, nil, at(time.Hour))
		noErr(t, "mark all", err)
		if k != 2 {
			t.Fatalf("all marked %d, want 2 (question and approval)", k)
		}
		if n, _ := r.CountUnread(ctx, other.ID); n != 1 {
			t.Fatalf("another user's inbox changed: %d unread", n)
		}
		// Deleting the session keeps the notification, without its link.
		noErr(t, "delete session", s.Sessions().Delete(ctx, sess.ID))
		if n := countRows(t, s, "notifications", "context_session_id IS NOT NULL"); n != 0 {
			t.Fatalf("%d notifications still point at a deleted session", n)
		}
		noErr(t, "delete user", s.Users().Delete(ctx, u.ID))
		if n := countRows(t, s, "notifications", "user_id = ?", u.ID); n != 0 {
			t.Fatalf("%d notifications of a deleted user remain", n)
		}
	})
}

package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func mkAgentSession(t *testing.T, s *store.Store, userID, status string, created time.Time) *store.Session {
	t.Helper()
	sess := &store.Session{ID: uuid.NewString(), UserID: userID, Workspace: "w", Status: status, Purpose: "interactive",
		Agent: "script", LastActiveAt: created, CreatedAt: created, UpdatedAt: created}
	if err := s.Sessions().Create(context.Background(), sess); err != nil {
		t.Fatal(err)
	}
	return sess
}

// The sessions list's title search (GET /api/sessions?q=) matches a part of
// the title in any case, takes LIKE's wildcards literally, and sees only the
// user's sessions.
func TestSessionsListByTitle(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "a@example.com", store.RoleMember, base)
		other := mkUser(t, s, "b@example.com", store.RoleMember, base)
		titles := []string{"Fix the Login bug", "login page", "100% done", "under_score", "underXscore", ""}
		byTitle := map[string]string{}
		for i, title := range titles {
			sess := mkAgentSession(t, s, u.ID, "running", at(time.Duration(i)*time.Second))
			if title != "" {
				sess.Title = title
				noErr(t, "title", s.Sessions().Update(ctx, sess, "title"))
			}
			byTitle[sess.ID] = title
		}
		o := mkAgentSession(t, s, other.ID, "running", base)
		o.Title = "login elsewhere"
		noErr(t, "title", s.Sessions().Update(ctx, o, "title"))
		for q, want := range map[string][]string{
			"LOGIN": {"login page", "Fix the Login bug"},
			"%":     {"100% done"},
			"_":     {"under_score"},
			"r_s":   {"under_score"},
			"zzz":   nil,
		} {
			page, err := s.Sessions().List(ctx, store.SessionFilter{UserID: u.ID, Title: q}, store.SessionCursor{}, 10)
			noErr(t, "list", err)
			var got []string
			for _, p := range page {
				got = append(got, byTitle[p.ID])
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("q=%q: got %q, want %q", q, got, want)
			}
		}
	})
}

func TestSessionsRepository(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "a@example.com", store.RoleMember, base)
		other := mkUser(t, s, "b@example.com", store.RoleMember, base)
		var made []*store.Session
		statuses := []string{"running", "terminated", "initializing", "hibernated", "running", "error", "restoring"}
		for i, st := range statuses {
			made = append(made, mkAgentSession(t, s, u.ID, st, at(time.Duration(i/2)*time.Second))) // pairs share a created_at
		}
		mkAgentSession(t, s, other.ID, "running", base)

		n, err := s.Sessions().CountActive(ctx, u.ID)
		noErr(t, "count active", err)
		if n != 4 { // running×2, initializing, restoring
			t.Fatalf("active = %d, want 4", n)
		}
		// Pages of 2, newest first, ties broken by id: each once.
		var seen []string
		var after store.SessionCursor
		for {
			page, err := s.Sessions().List(ctx, store.SessionFilter{UserID: u.ID}, after, 2)
			noErr(t, "list", err)
			if len(page) == 0 {
				break
			}
			for _, p := range page {
				seen = append(seen, p.ID)
			}
			last := page[len(page)-1]
			after = store.SessionCursor{CreatedAt: last.CreatedAt, ID: last.ID}
		}
		if len(seen) != len(made) {
			t.Fatalf("listed %d, want %d", len(seen), len(made))
		}
		uniq := map[string]bool{}
		for _, id := range seen {
			uniq[id] = true
		}
		if len(uniq) != len(made) {
			t.Fatalf("duplicates in pages: %v", seen)
		}
		page, err := s.Sessions().List(ctx, store.SessionFilter{UserID: u.ID, Status: "running"}, store.SessionCursor{}, 10)
		noErr(t, "filter", err)
		if len(page) != 2 {
			t.Fatalf("status filter: %d", len(page))
		}
		live, err := s.Sessions().ListLive(ctx)
		noErr(t, "live", err)
		if len(live) != 6 { // everything but terminated and error
			t.Fatalf("live = %d", len(live))
		}
		sess := made[0]
		sess.RunnerSeq, sess.Models, sess.UpdatedAt = 42, json.RawMessage(`[{"provider":"script"}]`), at(time.Hour)
		noErr(t, "update", s.Sessions().Update(ctx, sess, "runner_seq", "models"))
		got, err := s.Sessions().Get(ctx, sess.ID)
		noErr(t, "get", err)
		if got.RunnerSeq != 42 || string(got.Models) == "" || !got.UpdatedAt.Equal(at(time.Hour)) {
			t.Fatalf("update: %+v", got)
		}
		noErr(t, "delete", s.Sessions().Delete(ctx, sess.ID))
		if _, err := s.Sessions().Get(ctx, sess.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted: %v", err)
		}
	})
}

func TestMessagesAndQueue(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "a@example.com", store.RoleMember, base)
		sess := mkAgentSession(t, s, u.ID, "running", base)
		seq, err := s.Messages().MaxSeq(ctx, sess.ID)
		noErr(t, "max seq of nothing", err)
		if seq != 0 {
			t.Fatalf("max seq %d", seq)
		}
		for i := 1; i <= 5; i++ {
			m := &store.Message{ID: fmt.Sprintf("%s-m%d", sess.ID, i), SessionID: sess.ID, Seq: int64(i), Role: "user",
				Content: fmt.Sprint(i), CreatedAt: at(time.Duration(i) * time.Second), UpdatedAt: at(time.Duration(i) * time.Second)}
			noErr(t, "insert", s.Messages().Insert(ctx, m))
			noErr(t, "insert again is a no-op", s.Messages().Insert(ctx, m))
		}
		dup := &store.Message{ID: "other", SessionID: sess.ID, Seq: 3, Role: "user", CreatedAt: base, UpdatedAt: base}
		if err := s.Messages().Insert(ctx, dup); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("a second message with the same seq: %v", err)
		}
		list, err := s.Messages().List(ctx, sess.ID, store.MessageQuery{After: at(2 * time.Second), Limit: 2})
		noErr(t, "list", err)
		if len(list) != 2 || list[0].Seq != 3 || list[1].Seq != 4 || string(list[0].Parts) != "[]" {
			t.Fatalf("after/limit: %+v", list)
		}
		m := list[0]
		m.Content, m.Parts, m.UpdatedAt = "changed", json.RawMessage(`[{"type":"text","text":"changed"}]`), at(time.Hour)
		noErr(t, "update body", s.Messages().UpdateBody(ctx, &m))
		back, err := s.Messages().Get(ctx, m.ID)
		noErr(t, "get", err)
		var parts []map[string]any
		_ = json.Unmarshal(back.Parts, &parts)
		if back.Content != "changed" || len(parts) != 1 || parts[0]["text"] != "changed" {
			t.Fatalf("body: %+v", back)
		}
		if seq, _ := s.Messages().MaxSeq(ctx, sess.ID); seq != 5 {
			t.Fatalf("max seq %d", seq)
		}

		// The queue: dispatch order is priority, then seq.
		for i, pr := range []int{0, 1, 0} {
			noErr(t, "queue", s.PromptQueue().Insert(ctx, &store.QueuedPrompt{ID: fmt.Sprintf("%s-q%d", sess.ID, i), SessionID: sess.ID,
				Seq: int64(i + 1), Status: store.PromptQueued, Priority: pr, Content: "c", CreatedAt: base}))
		}
		q, err := s.PromptQueue().List(ctx, sess.ID)
		noErr(t, "list queue", err)
		if len(q) != 3 || q[0].Priority != 1 || q[1].Seq != 1 || q[2].Seq != 3 {
			t.Fatalf("queue order: %+v", q)
		}
		noErr(t, "processing", s.PromptQueue().SetStatus(ctx, q[0].ID, store.PromptProcessing))
		noErr(t, "processing", s.PromptQueue().SetStatus(ctx, q[1].ID, store.PromptProcessing))
		n, err := s.PromptQueue().RevertProcessing(ctx, sess.ID)
		noErr(t, "revert", err)
		if n != 2 {
			t.Fatalf("reverted %d", n)
		}
		if mx, _ := s.PromptQueue().MaxSeq(ctx, sess.ID); mx != 3 {
			t.Fatalf("queue max seq %d", mx)
		}
		// Deleting the session takes its transcript and queue with it.
		noErr(t, "delete session", s.Sessions().Delete(ctx, sess.ID))
		if c, _ := s.Messages().Count(ctx, sess.ID); c != 0 {
			t.Fatalf("messages left: %d", c)
		}
		if q, _ := s.PromptQueue().List(ctx, sess.ID); len(q) != 0 {
			t.Fatalf("queue left: %d", len(q))
		}
	})
}

package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/notify"
	"github.com/agentops/agentops/app/session"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

type published struct {
	userID, typ string
	data        []byte
}

// recorder is a Publisher that keeps what it gets.
type recorder struct {
	mu   sync.Mutex
	got  []published
	fail error
}

func (r *recorder) Publish(_ context.Context, userID, typ string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, published{userID, typ, b})
	return r.fail
}

func (r *recorder) all() []published {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]published(nil), r.got...)
}

type fixture struct {
	st      *store.Store
	svc     *notify.Service
	pub     *recorder
	user    string
	session string
	now     time.Time
}

func newFixture(t *testing.T, st *store.Store) *fixture {
	t.Helper()
	f := &fixture{st: st, pub: &recorder{}, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	f.svc = notify.New(st, f.pub, func() time.Time { f.now = f.now.Add(time.Millisecond); return f.now }, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	u := &store.User{ID: uuid.NewString(), Email: uuid.NewString() + "@example.com", Role: store.RoleMember, UIQueueMode: "followup",
		IdentityProvider: "email", CreatedAt: f.now, UpdatedAt: f.now}
	if err := st.Users().Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	s := &store.Session{ID: uuid.NewString(), UserID: u.ID, Workspace: "billing-api", Status: "running", Purpose: "interactive",
		Agent: "script", LastActiveAt: f.now, CreatedAt: f.now, UpdatedAt: f.now}
	if err := st.Sessions().Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	f.user, f.session = u.ID, s.ID
	return f
}

func TestSessionEventsBecomeNotifications(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		f := newFixture(t, st)
		ev := func(typ string, mod func(*session.Event)) session.Event {
			e := session.Event{Type: typ, SessionID: f.session, UserID: f.user}
			if mod != nil {
				mod(&e)
			}
			return e
		}
		events := []session.Event{
			ev("question.asked", func(e *session.Event) { e.Data.Text = "Deploy now?"; e.OwnerConnected = true }), // watching: none
			ev("question.asked", func(e *session.Event) { e.Data.Text = "Deploy now?" }),
			ev("session.started", nil),
			ev("session.update", nil),
			ev("question.answered", nil),
			ev("session.errored", func(e *session.Event) { e.Data.Error = "boom" }),
			ev("session.completed", func(e *session.Event) { e.Data.Reason = "user_stopped" }), // the owner did it
			ev("session.completed", func(e *session.Event) { e.Data.Reason = "bulk_delete" }),
			ev("session.completed", func(e *session.Event) { e.Data.Reason = "sandbox_lost" }),
			ev("session.completed", func(e *session.Event) { e.Data.Reason = "completed" }),
		}
		for _, e := range events {
			f.svc.SessionEvent(ctx, e)
		}
		page, err := f.svc.List(ctx, f.user, notify.Query{})
		if err != nil {
			t.Fatal(err)
		}
		want := []struct{ typ, content string }{ // newest first
			{"notification", `Session "billing-api" completed.`},
			{"notification", `Session "billing-api" ended: its sandbox was lost.`},
			{"notification", `Session "billing-api" hit an error: boom`},
			{"question", `Session "billing-api" asks: Deploy now?`},
		}
		if len(page.Messages) != len(want) || page.HasMore || page.Cursor != "" {
			t.Fatalf("inbox: %+v", page)
		}
		for i, w := range want {
			m := page.Messages[i]
			if m.MessageType != w.typ || m.Content != w.content || m.Read || m.ContextSessionID != f.session {
				t.Errorf("notification %d: %+v, want %s %q", i, m, w.typ, w.content)
			}
		}
		// Each one went out on the user's stream, in the REST shape.
		pubs := f.pub.all()
		if len(pubs) != 4 {
			t.Fatalf("published %d events, want 4", len(pubs))
		}
		var body map[string]any
		if err := json.Unmarshal(pubs[0].data, &body); err != nil {
			t.Fatal(err)
		}
		if pubs[0].userID != f.user || pubs[0].typ != "notification" || body["messageType"] != "question" ||
			body["contextSessionId"] != f.session || body["read"] != false || !strings.HasSuffix(body["createdAt"].(string), "Z") {
			t.Fatalf("published %s %s %s", pubs[0].userID, pubs[0].typ, pubs[0].data)
		}
	})
}

func TestInboxPagingAndMarking(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		f := newFixture(t, st)
		f.pub.fail = errors.New("bus down") // a failed publish loses nothing
		for i := range 7 {
			typ := store.NoticeNotification
			if i%3 == 0 {
				typ = store.NoticeQuestion
			}
			if _, err := f.svc.Create(ctx, notify.Input{UserID: f.user, MessageType: typ, Content: strings.Repeat("é", 3000)}); err != nil {
				t.Fatal(err)
			}
		}
		var ids []string
		cursor := ""
		for {
			page, err := f.svc.List(ctx, f.user, notify.Query{Cursor: cursor, Limit: 3})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range page.Messages {
				ids = append(ids, m.ID)
				if n := len([]rune(m.Content)); n != notify.MaxContentRunes {
					t.Fatalf("content of %d runes, want it cut to %d", n, notify.MaxContentRunes)
				}
			}
			if !page.HasMore {
				if page.Cursor != "" {
					t.Fatal("a last page has no cursor")
				}
				break
			}
			cursor = page.Cursor
		}
		if len(ids) != 7 {
			t.Fatalf("paged %d, want 7", len(ids))
		}
		for _, bad := range []notify.Query{{Cursor: "nope"}, {Limit: -1}, {Limit: 101}, {MessageType: "message"}} {
			if _, err := f.svc.List(ctx, f.user, bad); !isInvalid(err) {
				t.Errorf("%+v: %v, want a 400", bad, err)
			}
		}
		if n, _ := f.svc.CountUnread(ctx, f.user); n != 7 {
			t.Fatalf("unread %d", n)
		}
		if err := f.svc.MarkRead(ctx, f.user, ids[0]); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"not-a-uuid", uuid.NewString()} {
			if e, ok := apperr.As(f.svc.MarkRead(ctx, f.user, id)); !ok || e.Kind != apperr.KindNotFound {
				t.Fatalf("mark %s: want 404", id)
			}
		}
		n, err := f.svc.MarkNonActionableRead(ctx, f.user)
		if err != nil || n != 4 { // the 4 of type notification (ids[0], read already, is a question)
			t.Fatalf("non-actionable: %d %v", n, err)
		}
		if c, _ := f.svc.CountUnread(ctx, f.user); c != 2 {
			t.Fatalf("questions left unread: %d, want 2", c)
		}
		unread, _ := f.svc.List(ctx, f.user, notify.Query{UnreadOnly: true})
		for _, m := range unread.Messages {
			if m.MessageType != store.NoticeQuestion {
				t.Fatalf("unread non-question left: %+v", m)
			}
		}
		if n, _ := f.svc.MarkAllRead(ctx, f.user); n != 2 {
			t.Fatalf("read-all marked %d, want 2", n)
		}
	})
}

func isInvalid(err error) bool {
	e, ok := apperr.As(err)
	return ok && e.Kind == apperr.KindInvalid
}

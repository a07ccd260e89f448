package ops_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/app/credentials"
	"github.com/agentops/agentops/keyring"
	"github.com/agentops/agentops/search"
	"github.com/agentops/agentops/store"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// instance is a data dir that has served: an SQLite database with data in
// every kind of column, a sealed credential, memory, and its key file.
type instance struct {
	cfg    app.Config
	userID string
	kr     *keyring.Keyring
}

// mustSeed opens an app on a new data dir and writes users, sessions
// with messages, memory files and a credential.
func mustSeed(t *testing.T, sessions, messagesPer int) *instance {
	t.Helper()
	ctx := context.Background()
	cfg := app.Config{DataDir: filepath.Join(t.TempDir(), "data")}
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(ctx, cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	in := &instance{cfg: cfg, kr: a.Keyring}
	in.userID = mustUser(t, a.Store, "owner@example.com")
	if _, err := a.Credentials.SetUser(ctx, in.userID, "anthropic", credentials.Input{Key: "sk-ant-secret"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Memory.Write(ctx, in.userID, "notes/zebra.md", "the zebra crossing is at the corner"); err != nil {
		t.Fatal(err)
	}
	mustSessions(t, a.Store, in.userID, sessions, messagesPer)
	return in
}

func mustUser(t *testing.T, s *store.Store, email string) string {
	t.Helper()
	now := store.Now()
	u := &store.User{ID: uuid.NewString(), Email: email, Role: "admin", IdleTimeoutSeconds: 900,
		UIQueueMode: "followup", IdentityProvider: "email", ModelPreferences: []string{"m1"}, CreatedAt: now, UpdatedAt: now}
	if err := s.Users().Create(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// mustSessions writes n sessions with per messages each.
func mustSessions(t *testing.T, s *store.Store, userID string, n, per int) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for i := range n {
		now := store.Now()
		sess := &store.Session{ID: uuid.NewString(), UserID: userID, Workspace: "w", Status: store.StatusHibernated,
			Purpose: "interactive", Agent: "script", QueueMode: "followup", RunnerSeq: int64(i),
			Models:       json.RawMessage(fmt.Sprintf(`{"branch": "b%d", "dirty": %v, "n": 1.50}`, i, i%2 == 0)),
			LastActiveAt: now, CreatedAt: now, UpdatedAt: now}
		if err := s.Sessions().Create(ctx, sess); err != nil {
			t.Fatal(err)
		}
		for j := range per {
			m := &store.Message{ID: uuid.NewString(), SessionID: sess.ID, Seq: int64(j + 1), Role: "assistant",
				Content: fmt.Sprintf("message %d of session %d: 'it''s' ? é", j, i), Parts: json.RawMessage(`[{"type":"text","text":"x"}]`),
				CreatedAt: now.Add(time.Duration(j) * time.Microsecond), UpdatedAt: now}
			if err := s.Messages().Insert(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, sess.ID)
	}
	return ids
}

// digests returns each registered table's row count and digest.
func digests(t *testing.T, s *store.Store) map[string]string {
	t.Helper()
	ctx := context.Background()
	sn, err := s.BeginSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	out := map[string]string{}
	for _, tb := range store.Tables() {
		info, err := sn.Describe(ctx, tb.Name)
		if err != nil {
			t.Fatal(err)
		}
		d, err := sn.DigestTable(ctx, info, 100)
		if err != nil {
			t.Fatal(err)
		}
		out[tb.Name] = fmt.Sprintf("%d rows %s", d.Rows, d)
	}
	return out
}

func mustOpen(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sameDigests(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	for _, tb := range store.Tables() {
		if want[tb.Name] != got[tb.Name] {
			t.Errorf("%s: table %s: want %s, got %s", what, tb.Name, want[tb.Name], got[tb.Name])
		}
	}
}

// mustFind checks that memory search finds the seeded note.
func mustFind(t *testing.T, s *store.Store, userID string) {
	t.Helper()
	hits, err := s.MemoryFiles().Search(context.Background(), search.Query{UserID: userID, Text: "zebra"})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || hits[0].Path != "notes/zebra.md" {
		t.Errorf("%s: search for zebra: %+v", s.Dialect(), hits)
	}
}

package search_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/agentops/agentops/search"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// mustUser inserts a user (documents reference their owner).
func mustUser(t testing.TB, s *store.Store) string {
	t.Helper()
	now := store.Now()
	u := &store.User{ID: uuid.NewString(), Email: uuid.NewString() + "@example.com", Role: store.RoleMember,
		IdleTimeoutSeconds: 900, UIQueueMode: "followup", IdentityProvider: "email", CreatedAt: now, UpdatedAt: now}
	if err := s.Users().Create(context.Background(), u); err != nil {
		t.Fatalf("create user: %v", err)
	}
	return u.ID
}

// mustIndex indexes docs outside any transaction.
func mustIndex(t testing.TB, s *store.Store, docs ...search.Doc) {
	t.Helper()
	for _, d := range docs {
		if err := s.Search().Index(context.Background(), s.DB(), d); err != nil {
			t.Fatalf("index %s: %v", d.ID, err)
		}
	}
}

func mustSearch(t testing.TB, s *store.Store, q search.Query) []search.Hit {
	t.Helper()
	hits, err := s.Search().Search(context.Background(), s.DB(), q)
	if err != nil {
		t.Fatalf("search %+v: %v", q, err)
	}
	return hits
}

func paths(hits []search.Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Path
	}
	return out
}

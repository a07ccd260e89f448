package search_test

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/agentops/agentops/search"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

// TestProviderContract: what every provider must do, on both databases.
func TestProviderContract(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ann, bob := mustUser(t, s), mustUser(t, s)
		mustIndex(t, s,
			search.Doc{ID: "a1", UserID: ann, Path: "projects/agentops.md", Title: "Agentops", Content: "# Agentops\nThe control plane is written in Go.\nDeploys run on Fridays."},
			search.Doc{ID: "a2", UserID: ann, Path: "notes/kitchen.md", Title: "Kitchen", Content: "Buy coffee beans\nThe espresso machine needs descaling"},
			search.Doc{ID: "a3", UserID: ann, Path: "notes/travel.md", Title: "Travel", Content: "Café in Zürich was great\nTrain tickets to Genève"},
			search.Doc{ID: "b1", UserID: bob, Path: "projects/agentops.md", Title: "Bob's agentops", Content: "Bob also writes Go for the control plane"},
		)
		q := func(text, prefix string) []string {
			return sorted(paths(mustSearch(t, s, search.Query{UserID: ann, Text: text, PathPrefix: prefix})))
		}
		for _, tc := range []struct {
			text, prefix string
			want         []string
		}{
			{"control plane", "", []string{"projects/agentops.md"}},
			{"contr pla", "", []string{"projects/agentops.md"}},
			{"coffee control", "", []string{"notes/kitchen.md", "projects/agentops.md"}},
			{`"control plane"`, "", []string{"projects/agentops.md"}},
			{`"plane control"`, "", nil},
			{"go -fridays", "", nil},
			{"coffee -espresso", "", nil},
			{"coffee -tea", "", []string{"notes/kitchen.md"}},
			{"zurich", "", []string{"notes/travel.md"}}, // diacritics folded
			{"ZÜRICH", "", []string{"notes/travel.md"}},
			{"kitchen", "", []string{"notes/kitchen.md"}}, // the path counts
			{"descaling", "notes/", []string{"notes/kitchen.md"}},
			{"descaling", "projects/", nil},
			{"descaling", "notes/k", []string{"notes/kitchen.md"}},
			{"bob", "", nil}, // another user's words
			{"", "", nil},
			{"-coffee", "", nil}, // nothing required: nothing matches
			{"a", "", nil},       // one-letter words are dropped
		} {
			if got := q(tc.text, tc.prefix); !slices.Equal(got, tc.want) {
				t.Errorf("%s: %q in %q: got %v, want %v", s.Dialect(), tc.text, tc.prefix, got, tc.want)
			}
		}

		// Snippet and relevance.
		hits := mustSearch(t, s, search.Query{UserID: ann, Text: "espresso"})
		if len(hits) != 1 || !strings.Contains(hits[0].Snippet, "espresso machine") || hits[0].DocID != "a2" {
			t.Fatalf("hit: %+v", hits)
		}
		if r := hits[0].Relevance; r <= 0 || r > 1 {
			t.Fatalf("relevance %v outside (0, 1]", r)
		}
		if h := mustSearch(t, s, search.Query{UserID: ann, Text: "kitchen"}); h[0].Relevance < 0.2 {
			t.Fatalf("a word in the path adds 0.2: %+v", h)
		}

		// Replace: the old words are gone, the new ones found.
		mustIndex(t, s, search.Doc{ID: "a2", UserID: ann, Path: "notes/kitchen.md", Title: "Kitchen", Content: "Buy green tea"})
		if got := q("espresso", ""); len(got) != 0 {
			t.Fatalf("replaced text still found: %v", got)
		}
		if got := q("green tea", ""); !slices.Equal(got, []string{"notes/kitchen.md"}) {
			t.Fatalf("new text: %v", got)
		}

		// Remove.
		if err := s.Search().Remove(ctx, s.DB(), "a2", "unknown"); err != nil {
			t.Fatal(err)
		}
		if got := q("tea", ""); len(got) != 0 {
			t.Fatalf("removed document found: %v", got)
		}

		// Index runs in the caller's transaction: a rollback leaves no trace.
		boom := errors.New("boom")
		err := s.InTx(ctx, func(tx *store.Store) error {
			if err := tx.Search().Index(ctx, tx.IDB(), search.Doc{ID: "a9", UserID: ann, Path: "x.md", Content: "rollback marker"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if got := q("rollback", ""); len(got) != 0 {
			t.Fatalf("a rolled back index write is visible: %v", got)
		}

		// Limits (the documents go in through the bulk path).
		var many []search.Doc
		for i := range 30 {
			many = append(many, search.Doc{ID: "many" + string(rune('a'+i)), UserID: ann, Path: "many/" + string(rune('a'+i)) + ".md", Content: "repeated word"})
		}
		if err := s.Search().IndexNew(ctx, s.DB(), many); err != nil {
			t.Fatal(err)
		}
		if n := len(mustSearch(t, s, search.Query{UserID: ann, Text: "repeated"})); n != search.DefaultLimit {
			t.Fatalf("default limit: %d hits", n)
		}
		if n := len(mustSearch(t, s, search.Query{UserID: ann, Text: "repeated", Limit: 5})); n != 5 {
			t.Fatalf("limit 5: %d hits", n)
		}
	})
}

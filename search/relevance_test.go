package search_test

import (
	"slices"
	"testing"

	"github.com/agentops/agentops/search"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// corpus is a fixed set of memory files of one user.
var corpus = []search.Doc{
	{ID: "r01", Path: "preferences/coding-style.md", Title: "Coding style", Content: "# Coding style\nUse gofmt. Prefer small functions.\nErrors are wrapped with context.\nTabs, not spaces."},
	{ID: "r02", Path: "projects/agentops/architecture.md", Title: "Agentops architecture", Content: "# Agentops architecture\nOne Go binary. SQLite by default, Postgres for replicas.\nThe session actor owns each session's state."},
	{ID: "r03", Path: "projects/agentops/deploy.md", Title: "Deploying agentops", Content: "# Deploying agentops\nBuild with make build.\nInstall the systemd unit and start the service.\nBack up the SQLite file and the instance key."},
	{ID: "r04", Path: "projects/website/todo.md", Title: "Website todo", Content: "# Website todo\n- fix the broken contact form\n- compress hero images\n- renew the TLS certificate"},
	{ID: "r05", Path: "people/alice.md", Title: "Alice", Content: "# Alice\nAlice leads the database team.\nShe prefers Postgres and reviews every migration."},
	{ID: "r06", Path: "people/bob.md", Title: "Bob", Content: "# Bob\nBob maintains the website.\nAsk Bob about the contact form and the certificates."},
	{ID: "r07", Path: "journal/2025-03-14.md", Title: "2025-03-14", Content: "# 2025-03-14\nMigrated the staging database to Postgres.\nThe backup job failed twice; retried manually."},
	{ID: "r08", Path: "journal/2025-03-15.md", Title: "2025-03-15", Content: "# 2025-03-15\nWrote the benchmark for full-text search.\nFTS5 with bm25 ranking; tsvector with GIN on Postgres."},
	{ID: "r09", Path: "recipes/espresso.md", Title: "Espresso", Content: "# Espresso\n18 g of coffee, 36 g out, 28 seconds.\nDescale the machine every month."},
	{ID: "r10", Path: "recipes/bread.md", Title: "Sourdough bread", Content: "# Sourdough bread\nFeed the starter the night before.\nBake at 250 degrees with steam for 20 minutes."},
	{ID: "r11", Path: "decisions/database.md", Title: "Database decision", Content: "# Database decision\nWe keep SQLite for single machines and Postgres for replicas.\nMigrations exist for both dialects."},
	{ID: "r12", Path: "context/oncall.md", Title: "On-call", Content: "# On-call\nPager rotation is weekly.\nEscalate database incidents to Alice."},
	{ID: "r13", Path: "projects/agentops/search.md", Title: "Search design", Content: "# Search design\nA provider interface with FTS5 and Postgres implementations.\nPrefix terms, phrases and negation; snippets around the best line."},
	{ID: "r14", Path: "notes/reading.md", Title: "Reading list", Content: "# Reading list\nDesigning Data-Intensive Applications.\nThe Go Programming Language."},
	{ID: "r15", Path: "notes/garden.md", Title: "Garden", Content: "# Garden\nWater the tomatoes daily in summer.\nThe basil needs sun."},
}

// TestRelevance names, for each query, the files that must be in the top
// three on both databases (in any order: bm25 and ts_rank differ).
func TestRelevance(t *testing.T) {
	cases := []struct {
		query string
		top   []string
	}{
		{"espresso", []string{"recipes/espresso.md"}},
		{"coffee machine", []string{"recipes/espresso.md"}},
		{"sourdough", []string{"recipes/bread.md"}},
		{"alice", []string{"people/alice.md", "context/oncall.md"}},
		{"contact form", []string{"projects/website/todo.md", "people/bob.md"}},
		{"deploy agentops", []string{"projects/agentops/deploy.md"}},
		{"agentops architecture", []string{"projects/agentops/architecture.md"}},
		{"search provider", []string{"projects/agentops/search.md"}},
		{"postgres replicas", []string{"projects/agentops/architecture.md", "decisions/database.md"}},
		{`"session actor"`, []string{"projects/agentops/architecture.md"}},
		{"database -alice", []string{"decisions/database.md", "journal/2025-03-14.md"}},
		{"coding style", []string{"preferences/coding-style.md"}},
		{"certificate", []string{"projects/website/todo.md", "people/bob.md"}},
		{"migrat", []string{"people/alice.md", "journal/2025-03-14.md", "decisions/database.md"}},
		{"tomatoes basil", []string{"notes/garden.md"}},
		{"benchmark bm25", []string{"journal/2025-03-15.md"}},
		{"garden kitchen", []string{"notes/garden.md"}}, // no file has both: the OR retry
	}
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		user := mustUser(t, s)
		for _, d := range corpus {
			d.UserID = user
			mustIndex(t, s, d)
		}
		for _, tc := range cases {
			hits := mustSearch(t, s, search.Query{UserID: user, Text: tc.query})
			top := paths(hits[:min(3, len(hits))])
			for _, want := range tc.top {
				if !slices.Contains(top, want) {
					t.Errorf("%s: %q: %s not in the top three %v (all: %v)", s.Dialect(), tc.query, want, top, paths(hits))
				}
			}
			for i := 1; i < len(hits); i++ {
				if hits[i].Relevance > hits[i-1].Relevance {
					t.Errorf("%s: %q: hits not ordered by relevance: %+v", s.Dialect(), tc.query, hits)
				}
			}
		}
	})
}

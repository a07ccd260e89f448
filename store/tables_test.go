package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/search"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// schemaTables lists the tables a migrated database has.
func schemaTables(t *testing.T, s *store.Store) []string {
	t.Helper()
	q := "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
	if s.Dialect() == store.Postgres {
		q = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
	}
	var names []string
	if err := s.DB().NewRaw(q).Scan(context.Background(), &names); err != nil {
		t.Fatal(err)
	}
	return names
}

// TestRegistryCoversSchema fails when a migration adds a table that the
// registry (store/tables.go) lacks, or the registry names a table the
// migrations do not create; every registered table can be described.
func TestRegistryCoversSchema(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		registered := map[string]bool{}
		for _, tb := range store.Tables() {
			registered[tb.Name] = true
		}
		have := map[string]bool{}
		for _, name := range schemaTables(t, s) {
			have[name] = true
			if !registered[name] && !store.UnregisteredTable(name) {
				t.Errorf("table %s is not in the table registry: add {Name: %q} to tables in store/tables.go, after the tables it references", name, name)
			}
		}
		for name := range registered {
			if !have[name] {
				t.Errorf("registered table %s does not exist after migrating", name)
				continue
			}
			if _, err := s.Describe(context.Background(), name); err != nil {
				t.Error(err)
			}
		}
	})
}

// TestRegistryForeignKeyOrder: every table comes after the tables its
// foreign keys reference, so that copying in registry order keeps every key.
func TestRegistryForeignKeyOrder(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			s := storetest.Open(t, d)
			var sc schema
			if d == store.Postgres {
				sc = readPostgresSchema(t, s)
			} else {
				sc = readSQLiteSchema(t, s)
			}
			pos := map[string]int{}
			for i, tb := range store.Tables() {
				pos[tb.Name] = i
			}
			for i, tb := range store.Tables() {
				for _, fk := range sc.FKs[tb.Name] {
					j, ok := pos[fk.RefTable]
					if !ok {
						t.Errorf("%s.%s references %s, which is not registered", tb.Name, fk.Column, fk.RefTable)
					} else if j > i {
						t.Errorf("%s comes before %s, which its column %s references: move it after", tb.Name, fk.RefTable, fk.Column)
					}
				}
			}
		})
	}
}

// seedAllKinds writes rows that use every column kind: text, integers,
// reals, booleans, timestamps (with microseconds), JSON and NULLs.
func seedAllKinds(t *testing.T, s *store.Store) {
	t.Helper()
	ctx := context.Background()
	ts := time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)
	u := mkUser(t, s, "kinds@example.com", "admin", ts)
	sess := &store.Session{ID: uuid.NewString(), UserID: u.ID, Workspace: "w", Status: "running", Purpose: "interactive",
		Agent: "script", QueueMode: "followup", RunnerBusy: true, RunnerSeq: 1 << 40, Models: json.RawMessage(`{"b": [1, 2.50, 1e400, {"z": null, "a": "x"}], "a": true}`),
		LastActiveAt: ts, CreatedAt: ts, UpdatedAt: ts}
	if err := s.Sessions().Create(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if err := s.Messages().Insert(ctx, &store.Message{ID: uuid.NewString(), SessionID: sess.ID, Seq: 1, Role: "user",
		Content: "héllo 'quoted' ? $1 \\ \n", Parts: json.RawMessage(`[{"type":"text","text":"a<b>&"}]`), CreatedAt: ts, UpdatedAt: ts}); err != nil {
		t.Fatal(err)
	}
	if err := s.MemoryFiles().Insert(ctx, &store.MemoryFile{ID: uuid.NewString(), UserID: u.ID, Path: "notes/a.md", Title: "A",
		Content: "remember the zebra", Relevance: 1.25, Pinned: true, Version: 1, CreatedAt: ts, UpdatedAt: ts, LastAccessedAt: ts}); err != nil {
		t.Fatal(err)
	}
}

// copyTables copies every registered table from src to dst in batches of
// batch rows and returns each table's digest on both sides.
func copyTables(t *testing.T, src, dst *store.Store, batch int) {
	t.Helper()
	ctx := context.Background()
	sn, err := src.BeginSnapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Close()
	for _, tb := range store.Tables() {
		info, err := sn.Describe(ctx, tb.Name)
		if err != nil {
			t.Fatal(err)
		}
		var after []any
		for {
			rows, err := sn.ReadBatch(ctx, info, after, batch)
			if err != nil {
				t.Fatal(err)
			}
			if err := dst.WriteBatch(ctx, info, rows); err != nil {
				t.Fatal(err)
			}
			if len(rows) < batch {
				break
			}
			after = info.KeyOf(rows[len(rows)-1])
		}
	}
}

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
		d, err := sn.DigestTable(ctx, info, 2)
		if err != nil {
			t.Fatal(err)
		}
		out[tb.Name] = d.String()
	}
	return out
}

// TestTableRowsCrossDialect: rows read in batches from one dialect and
// written to the other have the same canonical content, both ways.
func TestTableRowsCrossDialect(t *testing.T) {
	lite := storetest.Open(t, store.SQLite)
	seedAllKinds(t, lite)
	pg := storetest.Open(t, store.Postgres)
	copyTables(t, lite, pg, 1)
	back := storetest.Open(t, store.SQLite)
	copyTables(t, pg, back, 3)

	dl, dp, db := digests(t, lite), digests(t, pg), digests(t, back)
	for _, tb := range store.Tables() {
		if dl[tb.Name] != dp[tb.Name] || dl[tb.Name] != db[tb.Name] {
			t.Errorf("%s: digests differ: sqlite %s, postgres %s, sqlite again %s", tb.Name, dl[tb.Name], dp[tb.Name], db[tb.Name])
		}
	}
	ctx := context.Background()
	for _, s := range []*store.Store{pg, back} {
		if _, err := s.MemoryFiles().RebuildSearch(ctx, 1, nil); err != nil {
			t.Fatal(err)
		}
		hits, err := s.MemoryFiles().Search(ctx, search.Query{UserID: userID(t, lite), Text: "zebra"})
		if err != nil || len(hits) != 1 {
			t.Errorf("%s: search after rebuild: %v, %v", s.Dialect(), hits, err)
		}
	}
}

func userID(t *testing.T, s *store.Store) string {
	t.Helper()
	u, err := s.Users().GetByEmail(context.Background(), "kinds@example.com")
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// TestCanonicalJSONNumbers: the forms a number takes in SQLite text and
// in Postgres jsonb output have one canonical form.
func TestCanonicalJSONNumbers(t *testing.T) {
	info := store.TableInfo{Name: "t", Columns: []store.Column{{Name: "j", Kind: store.KindJSON}}}
	same := [][]string{
		{`{"a":100,"b":[1,2]}`, `{"b": [1, 2], "a": 1e2}`, `{"a": 100.0, "b": [1.0, 2]}`, `{"a":1E+2,"b":[1,2]}`},
		{`[1000000]`, `[1e6]`, `[1000000.000]`},
		{`{"s":"a\u00e9\"b"}`, `{"s": "aé\"b"}`},
	}
	for _, group := range same {
		first, err := info.Canonical(store.Row{group[0]})
		if err != nil {
			t.Fatal(err)
		}
		for _, other := range group[1:] {
			got, err := info.Canonical(store.Row{other})
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(first) {
				t.Errorf("%s → %s, but %s → %s", group[0], first, other, got)
			}
		}
	}
}

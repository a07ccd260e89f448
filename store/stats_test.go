package store_test

import (
	"context"
	"maps"
	"testing"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func TestCountLiveByStatusAndPoolStats(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		got, err := s.Sessions().CountLiveByStatus(ctx)
		noErr(t, "count on an empty database", err)
		want := map[string]int{"initializing": 0, "running": 0, "hibernating": 0, "hibernated": 0, "restoring": 0}
		if !maps.Equal(got, want) {
			t.Fatalf("empty: %v", got)
		}
		u := mkUser(t, s, "a@example.com", store.RoleMember, base)
		for _, st := range []string{"running", "running", "hibernated", "terminated", "error", "archived", "initializing"} {
			mkAgentSession(t, s, u.ID, st, base)
		}
		got, err = s.Sessions().CountLiveByStatus(ctx)
		noErr(t, "count", err)
		want["running"], want["hibernated"], want["initializing"] = 2, 1, 1
		if !maps.Equal(got, want) {
			t.Fatalf("counts %v, want %v (terminal statuses left out)", got, want)
		}

		pools := s.PoolStats()
		names := []string{"read", "write"}
		if s.Dialect() == store.Postgres {
			names = []string{"main"}
		}
		if len(pools) != len(names) {
			t.Fatalf("pools: %v", pools)
		}
		for _, n := range names {
			if pools[n].MaxOpenConnections < 1 || pools[n].OpenConnections < 1 {
				t.Fatalf("pool %s: %+v", n, pools[n])
			}
		}
	})
}

// TestPeekMigrations reads the migration state without creating or
// locking anything: a fresh database has every migration pending (and no
// schema_migrations table made for it), a migrated one none, and versions
// a newer binary recorded are reported as unknown.
func TestPeekMigrations(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			s, err := store.Open(ctx, storetest.URL(t, d), store.Options{})
			noErr(t, "open", err)
			defer s.Close()
			states, unknown, err := s.PeekMigrations(ctx)
			noErr(t, "peek fresh", err)
			if store.Pending(states) != len(states) || len(states) == 0 || len(unknown) != 0 {
				t.Fatalf("fresh: %d of %d pending, unknown %v", store.Pending(states), len(states), unknown)
			}
			if _, _, err := s.PeekMigrations(ctx); err != nil {
				t.Fatal(err)
			}
			var tables int
			q := "SELECT COUNT(*) FROM sqlite_master WHERE name = 'schema_migrations'"
			if d == store.Postgres {
				q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'"
			}
			noErr(t, "count tables", s.DB().QueryRowContext(ctx, q).Scan(&tables))
			if tables != 0 {
				t.Fatal("peeking created schema_migrations")
			}
			_, err = s.Migrate(ctx)
			noErr(t, "migrate", err)
			states, unknown, err = s.PeekMigrations(ctx)
			noErr(t, "peek migrated", err)
			if store.Pending(states) != 0 || len(unknown) != 0 {
				t.Fatalf("migrated: %d pending, unknown %v", store.Pending(states), unknown)
			}
			_, err = s.DB().ExecContext(ctx, "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ('9999', 'future', 'x', '2030-01-01T00:00:00.000000Z')")
			noErr(t, "record a future migration", err)
			if _, unknown, err = s.PeekMigrations(ctx); err != nil || len(unknown) != 1 || unknown[0] != "9999" {
				t.Fatalf("unknown versions: %v %v", unknown, err)
			}
		})
	}
}

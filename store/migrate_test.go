package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func loadMigrations(t *testing.T, d store.Dialect) []store.Migration {
	t.Helper()
	all, err := store.LoadMigrations(d)
	noErr(t, "load migrations", err)
	if len(all) == 0 {
		t.Fatalf("no %s migrations embedded", d)
	}
	return all
}

// openRaw opens url without migrating; closed when the test ends.
func openRaw(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), url, store.Options{MaxConns: 4})
	noErr(t, "open", err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestMigrateFreshThenNoop(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			all := loadMigrations(t, d)
			url := storetest.URL(t, d)
			s := openRaw(t, url)

			st, err := s.MigrationStatus(ctx)
			noErr(t, "status before migrating", err)
			if len(st) != len(all) || store.Pending(st) != len(all) {
				t.Fatalf("fresh database: %d states, %d pending; want %d pending", len(st), store.Pending(st), len(all))
			}

			start := store.Now().Add(-time.Second) // applied_at has microseconds
			applied, err := s.Migrate(ctx)
			noErr(t, "migrate", err)
			end := store.Now().Add(time.Second)
			if len(applied) != len(all) {
				t.Fatalf("first Migrate applied %d, want %d", len(applied), len(all))
			}
			for i := range all {
				if applied[i].Version != all[i].Version {
					t.Errorf("applied #%d is %s, want %s (in order)", i, applied[i].Version, all[i].Version)
				}
			}

			applied, err = s.Migrate(ctx)
			noErr(t, "migrate again", err)
			if len(applied) != 0 {
				t.Errorf("Migrate on a migrated store applied %d migrations", len(applied))
			}

			// A second handle (another server) finds nothing to do.
			other := openRaw(t, url)
			applied, err = other.Migrate(ctx)
			noErr(t, "migrate from a second handle", err)
			if len(applied) != 0 {
				t.Errorf("Migrate from a second handle applied %d migrations", len(applied))
			}
			st, err = other.MigrationStatus(ctx)
			noErr(t, "status", err)
			if len(st) != len(all) {
				t.Fatalf("status lists %d migrations, want %d", len(st), len(all))
			}
			if p := store.Pending(st); p != 0 {
				t.Errorf("Pending = %d after Migrate", p)
			}
			for i, m := range st {
				if m.Version != all[i].Version || m.Checksum != all[i].Checksum {
					t.Errorf("status #%d = %s %s, want %s %s", i, m.Version, m.Checksum, all[i].Version, all[i].Checksum)
				}
				if m.AppliedAt.IsZero() || m.AppliedAt.Before(start) || m.AppliedAt.After(end) {
					t.Errorf("migration %s applied at %v, want between %v and %v", m.Version, m.AppliedAt, start, end)
				}
			}

			// The schema is usable.
			mkUser(t, s, "after@example.com", store.RoleAdmin, at(0))
		})
	}
}

func TestMigrateOnOpenedStoreIsNoop(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		mkUser(t, s, "keep@example.com", store.RoleMember, at(0))
		applied, err := s.Migrate(ctx)
		noErr(t, "migrate", err)
		if len(applied) != 0 {
			t.Errorf("Migrate on a migrated store applied %v", applied)
		}
		st, err := s.MigrationStatus(ctx)
		noErr(t, "status", err)
		if store.Pending(st) != 0 {
			t.Errorf("Pending = %d", store.Pending(st))
		}
		if n, _ := s.Users().Count(ctx); n != 1 {
			t.Errorf("Migrate again changed data: %d users", n)
		}
	})
}

func TestMigrateRefusesChangedMigration(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		all := loadMigrations(t, s.Dialect())
		_, err := s.DB().NewRaw("UPDATE schema_migrations SET checksum = ? WHERE version = ?", strings.Repeat("0", 64), all[0].Version).Exec(ctx)
		noErr(t, "tamper", err)
		_, err = s.Migrate(ctx)
		if err == nil || !strings.Contains(err.Error(), "changed") {
			t.Fatalf("Migrate with a changed applied migration: %v, want an error saying it changed", err)
		}
	})
}

// TestMigrateRefusesNewerSchema: a rollback to an older binary after an
// upgrade finds a migration it does not know and refuses to serve,
// changing nothing.
func TestMigrateRefusesNewerSchema(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		_, err := s.DB().NewRaw("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)",
			"9999", "from_the_future", strings.Repeat("0", 64), store.Now().Format(store.TimeLayout)).Exec(ctx)
		noErr(t, "record a future migration", err)
		_, err = s.Migrate(ctx)
		if !errors.Is(err, store.ErrNewerSchema) || !strings.Contains(err.Error(), "9999") {
			t.Fatalf("Migrate with a newer schema: %v, want ErrNewerSchema naming 9999", err)
		}
		if !strings.Contains(err.Error(), "restore the backup") {
			t.Fatalf("the error should say what to do: %v", err)
		}
	})
}

// A rolling upgrade mixes releases: an older binary serves a schema with
// migrations it does not know when each of them recorded a min-release it
// meets, and refuses, naming the release it needs, when one did not.
func TestMigrateMinRelease(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		all := loadMigrations(t, s.Dialect())
		release := all[len(all)-1].Version
		var recorded string
		noErr(t, "read the replicas migration's min-release", s.DB().NewRaw("SELECT min_release FROM schema_migrations WHERE name = 'replicas'").Scan(ctx, &recorded))
		if recorded != "0017" {
			t.Fatalf("the replicas migration recorded min-release %q, want 0017 (its file's declaration)", recorded)
		}
		future := func(version, minRelease string) {
			t.Helper()
			_, err := s.DB().NewRaw("INSERT INTO schema_migrations (version, name, checksum, applied_at, min_release) VALUES (?, ?, ?, ?, ?)",
				version, "from_the_future", strings.Repeat("0", 64), store.Now().Format(store.TimeLayout), minRelease).Exec(ctx)
			noErr(t, "record a future migration", err)
		}
		future("9998", release) // the next release still runs with this one
		if _, err := s.Migrate(ctx); err != nil {
			t.Fatalf("an older release the schema allows was refused: %v", err)
		}
		future("9999", "9999") // a contraction: this release is too old
		_, err := s.Migrate(ctx)
		if !errors.Is(err, store.ErrNewerSchema) || !strings.Contains(err.Error(), "needs agentops release 9999") {
			t.Fatalf("Migrate below the min-release: %v, want ErrNewerSchema naming release 9999", err)
		}
	})
}

func TestCheckRelease(t *testing.T) {
	known := []string{"0001", "0017", "0022"}
	for _, c := range []struct {
		name    string
		applied []string
		mins    map[string]string
		ok      bool
	}{
		{"same schema", []string{"0001", "0017", "0022"}, map[string]string{"0022": "0017"}, true},
		{"older schema", []string{"0001"}, nil, true},
		{"newer, compatible", []string{"0001", "0017", "0022", "0023"}, map[string]string{"0023": "0022"}, true},
		{"newer, declared for an older release", []string{"0022", "0023"}, map[string]string{"0023": "0017"}, true},
		{"newer, needs it", []string{"0022", "0023"}, map[string]string{"0023": "0023"}, false},
		{"newer, undeclared", []string{"0022", "0023"}, nil, false},
		{"an earlier contraction this release is too old for", []string{"0022", "0023", "0024"}, map[string]string{"0023": "0023", "0024": "0017"}, false},
	} {
		err := store.CheckRelease(c.applied, c.mins, known)
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, store.ErrNewerSchema) {
			t.Errorf("%s: %v is not ErrNewerSchema", c.name, err)
		}
	}
}

// TestMigrateConcurrent starts several servers at once on one fresh
// database: every migration is applied by exactly one of them, and none
// fails.
func TestMigrateConcurrent(t *testing.T) {
	const n = 4
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			all := loadMigrations(t, d)
			url := storetest.URL(t, d)
			stores := make([]*store.Store, n)
			for i := range stores {
				stores[i] = openRaw(t, url)
			}

			var (
				wg      sync.WaitGroup
				start   = make(chan struct{})
				applied = make([][]store.Migration, n)
				errs    = make([]error, n)
			)
			for i, s := range stores {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					applied[i], errs[i] = s.Migrate(ctx)
				}()
			}
			close(start)
			wg.Wait()

			byVersion := map[string]int{}
			total := 0
			for i := range stores {
				if errs[i] != nil {
					t.Errorf("store %d: Migrate: %v", i, errs[i])
				}
				for _, m := range applied[i] {
					byVersion[m.Version]++
				}
				total += len(applied[i])
			}
			if total != len(all) {
				t.Errorf("%d stores applied %d migrations in total, want %d", n, total, len(all))
			}
			for _, m := range all {
				if byVersion[m.Version] != 1 {
					t.Errorf("migration %s applied %d times", m.Version, byVersion[m.Version])
				}
			}
			for i, s := range stores {
				st, err := s.MigrationStatus(ctx)
				noErr(t, "status", err)
				if store.Pending(st) != 0 {
					t.Errorf("store %d: %d pending after concurrent Migrate", i, store.Pending(st))
				}
			}
			var rows int
			noErr(t, "count schema_migrations", stores[0].DB().NewRaw("SELECT count(*) FROM schema_migrations").Scan(ctx, &rows))
			if rows != len(all) {
				t.Errorf("schema_migrations has %d rows, want %d", rows, len(all))
			}
			mkUser(t, stores[n-1], "after@example.com", store.RoleMember, at(0))
		})
	}
}

package ops_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/agentops/agentops/app/credentials"
	"github.com/agentops/agentops/app/ops"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// TestMigrateDataRoundTrip: SQLite → Postgres → SQLite gives the same rows
// in every table (canonical form), and search and credentials work on
// each copy.
func TestMigrateDataRoundTrip(t *testing.T) {
	ctx := context.Background()
	in := mustSeed(t, 12, 9)
	pgURL := storetest.PostgresURL(t)
	res, err := ops.MigrateData(ctx, ops.MigrateOptions{From: in.cfg.DatabaseURL, To: pgURL, BatchRows: 7, Keyring: in.kr, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed || !res.KeyChecked || res.Credentials != 1 || res.SearchDocs != 1 {
		t.Errorf("to postgres: %+v", res)
	}
	back := filepath.Join(t.TempDir(), "back.db")
	res, err = ops.MigrateData(ctx, ops.MigrateOptions{From: pgURL, To: back, BatchRows: 5, Keyring: in.kr, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if !res.KeyChecked || res.Credentials != 1 {
		t.Errorf("back to sqlite: %+v", res)
	}

	orig, pg, lite := mustOpen(t, in.cfg.DatabaseURL), mustOpen(t, pgURL), mustOpen(t, back)
	want := digests(t, orig)
	if want["messages"][:8] != "108 rows" {
		t.Fatalf("seed: messages %s", want["messages"])
	}
	sameDigests(t, "postgres", want, digests(t, pg))
	sameDigests(t, "sqlite again", want, digests(t, lite))
	for _, s := range []*store.Store{pg, lite} {
		mustFind(t, s, in.userID)
		if n, err := credentials.VerifyAll(ctx, s, in.kr); err != nil || n != 1 {
			t.Errorf("%s: credentials: %d, %v", s.Dialect(), n, err)
		}
		if ok, _ := s.HasProgress(ctx); ok {
			t.Errorf("%s: the progress marker stayed", s.Dialect())
		}
	}
}

// TestMigrateDataResumes: a copy interrupted part-way resumes from its
// marker, says so, and ends with the same rows as the source.
func TestMigrateDataResumes(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			in := mustSeed(t, 6, 10)
			to := storetest.URL(t, d)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			batches := 0
			_, err := ops.MigrateData(ctx, ops.MigrateOptions{From: in.cfg.DatabaseURL, To: to, BatchRows: 8, Log: quiet,
				OnBatch: func(table string, rows int64) {
					if table == "messages" {
						if batches++; batches == 3 {
							cancel()
						}
					}
				}})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted copy: %v", err)
			}
			dst := mustOpen(t, to)
			if n, _ := dst.Count(context.Background(), "messages"); n != 24 {
				t.Fatalf("after the interruption the target has %d messages, want 24 (3 batches)", n)
			}
			res, err := ops.MigrateData(context.Background(), ops.MigrateOptions{From: in.cfg.DatabaseURL, To: to, BatchRows: 8, Keyring: in.kr, Log: quiet})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Resumed {
				t.Error("the second run did not say it resumed")
			}
			sameDigests(t, "resumed", digests(t, mustOpen(t, in.cfg.DatabaseURL)), digests(t, dst))
			mustFind(t, dst, in.userID)
		})
	}
}

// TestMigrateDataRefuses: a target with data, and a source written by a
// newer agentops, are refused without changing anything; --force empties
// the target first.
func TestMigrateDataRefuses(t *testing.T) {
	ctx := context.Background()
	in := mustSeed(t, 2, 2)
	other := mustSeed(t, 1, 1)
	before := digests(t, mustOpen(t, other.cfg.DatabaseURL))

	_, err := ops.MigrateData(ctx, ops.MigrateOptions{From: in.cfg.DatabaseURL, To: other.cfg.DatabaseURL, Log: quiet})
	if !errors.Is(err, ops.ErrTargetNotEmpty) {
		t.Fatalf("non-empty target: %v", err)
	}
	sameDigests(t, "refused target", before, digests(t, mustOpen(t, other.cfg.DatabaseURL)))

	if _, err := ops.MigrateData(ctx, ops.MigrateOptions{From: in.cfg.DatabaseURL, To: other.cfg.DatabaseURL, Force: true, Log: quiet}); err != nil {
		t.Fatalf("--force: %v", err)
	}
	sameDigests(t, "forced", digests(t, mustOpen(t, in.cfg.DatabaseURL)), digests(t, mustOpen(t, other.cfg.DatabaseURL)))

	src := mustOpen(t, in.cfg.DatabaseURL)
	if _, err := src.DB().ExecContext(ctx, "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ('9999', 'future', 'x', '2030-01-01T00:00:00.000000Z')"); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), "new.db")
	_, err = ops.MigrateData(ctx, ops.MigrateOptions{From: in.cfg.DatabaseURL, To: to, Log: quiet})
	if !errors.Is(err, store.ErrNewerSchema) {
		t.Fatalf("newer source: %v", err)
	}
	if _, err := ops.OpenExisting(ctx, to); err == nil {
		t.Error("a refused migrate-data created its target")
	}
	if _, err := ops.MigrateData(ctx, ops.MigrateOptions{From: filepath.Join(t.TempDir(), "typo.db"), To: to, Log: quiet}); err == nil {
		t.Error("a missing source file was accepted")
	}
}

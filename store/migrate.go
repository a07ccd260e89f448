package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/agentops/agentops/migrations"
)

// Migration is one embedded schema change.
type Migration struct {
	Version  string // "0001"
	Name     string // "init"
	SQL      string
	Checksum string // sha256 of SQL, hex
	// MinRelease is the oldest release that can still run on the schema
	// this migration leaves, named by the newest migration that release
	// knows; from the file's "-- min-release: NNNN" line, empty when the
	// migration declares none (docs/deploy.md, "Rolling upgrades").
	MinRelease string
}

const minReleasePrefix = "-- min-release:"

// parseMinRelease reads the "-- min-release: NNNN" line among a
// migration's leading comment lines.
func parseMinRelease(body string) string {
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "--") {
			break
		}
		if v, ok := strings.CutPrefix(line, minReleasePrefix); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// MigrationState is a migration and whether (and when) it was applied.
type MigrationState struct {
	Migration
	AppliedAt time.Time // zero when pending
}

// migrationLockKey is the Postgres advisory lock that serializes migration
// runs of every server sharing a database.
const migrationLockKey = 0x6167656e746f7073 // "agentops"

// LoadMigrations reads the embedded migrations of one dialect, in order.
func LoadMigrations(d Dialect) ([]Migration, error) {
	dir := string(d)
	entries, err := fs.ReadDir(migrations.FS, dir)
	if err != nil {
		return nil, fmt.Errorf("read %s migrations: %w", dir, err)
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		version, rest, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), "_")
		if !ok || version == "" {
			return nil, fmt.Errorf("migration %s/%s: name must be NNNN_name.sql", dir, name)
		}
		body, err := fs.ReadFile(migrations.FS, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		sum := sha256.Sum256(body)
		out = append(out, Migration{Version: version, Name: rest, SQL: string(body), Checksum: hex.EncodeToString(sum[:]),
			MinRelease: parseMinRelease(string(body))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("migrations %s: version %s appears twice", dir, out[i].Version)
		}
	}
	return out, nil
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	checksum TEXT NOT NULL,
	applied_at TEXT NOT NULL
)`

// lock takes the cross-process migration lock inside tx (Postgres: an
// advisory transaction lock; SQLite: the writer's BEGIN IMMEDIATE already
// holds the database write lock).
func (s *Store) lock(ctx context.Context, tx *sql.Tx) error {
	if s.dialect != Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLockKey)); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	return nil
}

func (s *Store) withMigrationTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.wdb.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin migration transaction: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if err := s.lock(ctx, tx); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, createMigrationsTable); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	if err := s.addMinReleaseColumn(ctx, tx); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migration: %w", err)
	}
	return nil
}

func appliedMigrations(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) (map[string][2]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT version, checksum, applied_at FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	out := map[string][2]string{}
	for rows.Next() {
		var v, sum, at string
		if err := rows.Scan(&v, &sum, &at); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		out[v] = [2]string{sum, at}
	}
	return out, rows.Err()
}

// addMinReleaseColumn adds schema_migrations.min_release to a table an
// older binary created (binaries before it ignore the column). The
// migrator owns schema_migrations, so this is not a migration: those
// apply to the data tables alone.
func (s *Store) addMinReleaseColumn(ctx context.Context, tx *sql.Tx) error {
	// Look the column up first: on Postgres a failed statement would
	// abort the transaction.
	q := "SELECT count(*) FROM pragma_table_info('schema_migrations') WHERE name = 'min_release'"
	if s.dialect == Postgres {
		q = "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'schema_migrations' AND column_name = 'min_release'"
	}
	var n int
	if err := tx.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return fmt.Errorf("read schema_migrations columns: %w", err)
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "ALTER TABLE schema_migrations ADD COLUMN min_release TEXT"); err != nil {
		return fmt.Errorf("add schema_migrations.min_release: %w", err)
	}
	return nil
}

// appliedMinReleases reads the min-release each applied migration
// recorded, by version.
func (s *Store) appliedMinReleases(ctx context.Context, tx *sql.Tx) (map[string]string, error) {
	out := map[string]string{}
	rows, err := tx.QueryContext(ctx, "SELECT version, min_release FROM schema_migrations WHERE min_release IS NOT NULL")
	if err != nil {
		return nil, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v, mr string
		if err := rows.Scan(&v, &mr); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		out[v] = mr
	}
	return out, rows.Err()
}

// Migrate applies every pending migration, each in its own transaction, and
// returns the ones it applied. Servers racing on one Postgres serialize on
// an advisory lock, so none is applied twice. An applied migration whose
// file changed since is an error: migrations are append-only.
func (s *Store) Migrate(ctx context.Context) ([]Migration, error) {
	all, err := LoadMigrations(s.dialect)
	if err != nil {
		return nil, err
	}
	// A database migrated by a newer binary (a rollback after an upgrade)
	// is refused before anything is applied: this binary does not know
	// what those migrations changed.
	err = s.withMigrationTx(ctx, func(tx *sql.Tx) error {
		done, err := appliedMigrations(ctx, tx)
		if err != nil {
			return err
		}
		applied := make([]string, 0, len(done))
		for v := range done {
			applied = append(applied, v)
		}
		known := make([]string, len(all))
		for i, m := range all {
			known[i] = m.Version
		}
		mins, err := s.appliedMinReleases(ctx, tx)
		if err != nil {
			return err
		}
		if err := CheckRelease(applied, mins, known); err != nil {
			return fmt.Errorf("the database was migrated by a newer agentops (a rollback after an upgrade?): run the newer binary, or restore the backup taken before the upgrade: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var applied []Migration
	for _, m := range all {
		did := false
		err := s.withMigrationTx(ctx, func(tx *sql.Tx) error {
			done, err := appliedMigrations(ctx, tx)
			if err != nil {
				return err
			}
			if prev, ok := done[m.Version]; ok {
				if prev[0] != m.Checksum {
					return fmt.Errorf("migration %s_%s was changed after it was applied (checksum %s, recorded %s): add a new migration instead", m.Version, m.Name, m.Checksum[:12], prev[0][:min(12, len(prev[0]))])
				}
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("apply migration %s_%s: %w", m.Version, m.Name, err)
			}
			ins := "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)"
			if s.dialect == Postgres {
				ins = "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)"
			}
			if _, err := tx.ExecContext(ctx, ins, m.Version, m.Name, m.Checksum, Now().Format(TimeLayout)); err != nil {
				return fmt.Errorf("record migration %s: %w", m.Version, err)
			}
			if m.MinRelease != "" {
				upd := "UPDATE schema_migrations SET min_release = ? WHERE version = ?"
				if s.dialect == Postgres {
					upd = "UPDATE schema_migrations SET min_release = $1 WHERE version = $2"
				}
				if _, err := tx.ExecContext(ctx, upd, m.MinRelease, m.Version); err != nil {
					return fmt.Errorf("record migration %s's min-release: %w", m.Version, err)
				}
			}
			did = true
			return nil
		})
		if err != nil {
			return applied, err
		}
		if did { // only once committed
			applied = append(applied, m)
		}
	}
	return applied, nil
}

// MigrationStatus lists every known migration with its applied time.
func (s *Store) MigrationStatus(ctx context.Context) ([]MigrationState, error) {
	all, err := LoadMigrations(s.dialect)
	if err != nil {
		return nil, err
	}
	var done map[string][2]string
	err = s.withMigrationTx(ctx, func(tx *sql.Tx) error {
		var err error
		done, err = appliedMigrations(ctx, tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]MigrationState, 0, len(all))
	for _, m := range all {
		st := MigrationState{Migration: m}
		if rec, ok := done[m.Version]; ok {
			st.AppliedAt, _ = time.Parse(TimeLayout, rec[1])
		}
		out = append(out, st)
	}
	return out, nil
}

// Pending reports how many migrations are not applied yet.
func Pending(states []MigrationState) int {
	n := 0
	for _, st := range states {
		if st.AppliedAt.IsZero() {
			n++
		}
	}
	return n
}

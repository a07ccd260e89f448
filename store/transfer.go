package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/uptrace/bun/schema"
)

// The dialect helpers that copying a whole database needs (backup,
// restore, migrate-data): emptiness, the migrate-data progress marker,
// sequences, the SQLite snapshot file and its checks.

// KnownVersions returns the migration versions this binary knows, in order.
func KnownVersions(d Dialect) ([]string, error) {
	all, err := LoadMigrations(d)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(all))
	for i, m := range all {
		out[i] = m.Version
	}
	return out, nil
}

// ErrNewerSchema means a database or a backup has migrations this binary
// does not know: it was written by a newer agentops.
var ErrNewerSchema = errors.New("schema is newer than this agentops knows: use the agentops version that wrote it, or a newer one")

// CheckVersions compares the migration versions a database records with
// the ones this binary knows. Unknown versions are ErrNewerSchema; missing
// ones are returned (the database is older and needs migrating).
func CheckVersions(applied, known []string) (missing []string, err error) {
	k := map[string]bool{}
	for _, v := range known {
		k[v] = true
	}
	a := map[string]bool{}
	var unknown []string
	for _, v := range applied {
		a[v] = true
		if !k[v] {
			unknown = append(unknown, v)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("migrations %v are unknown to this agentops (it knows up to %s): %w", unknown, known[len(known)-1], ErrNewerSchema)
	}
	for _, v := range known {
		if !a[v] {
			missing = append(missing, v)
		}
	}
	return missing, nil
}

// CheckRelease is the rolling-upgrade rule a server applies at start-up
// (docs/deploy.md, "Rolling upgrades"): a database with migrations this
// binary does not know is still served when every recorded min-release
// (minRelease, by version) is at most this binary's release, the newest
// migration it knows; an unknown migration that recorded none was not
// declared compatible, and is refused. Backups and migrate-data copy
// whole tables and keep CheckVersions' strict rule.
func CheckRelease(applied []string, minRelease map[string]string, known []string) error {
	if len(known) == 0 {
		return fmt.Errorf("no migrations known")
	}
	release := known[len(known)-1]
	k := map[string]bool{}
	for _, v := range known {
		k[v] = true
	}
	var undeclared []string
	need := ""
	for _, v := range applied {
		if m := minRelease[v]; m > need {
			need = m
		}
		if !k[v] && minRelease[v] == "" {
			undeclared = append(undeclared, v)
		}
	}
	if len(undeclared) > 0 {
		sort.Strings(undeclared)
		return fmt.Errorf("migrations %v are unknown to this agentops (release %s) and say nothing about older releases: %w", undeclared, release, ErrNewerSchema)
	}
	if need > release {
		return fmt.Errorf("the schema needs agentops release %s or newer (the one that knows migration %s); this is release %s: %w", need, need, release, ErrNewerSchema)
	}
	return nil
}

// AppliedVersions returns the migration versions the database records.
func (s *Store) AppliedVersions(ctx context.Context) ([]string, error) {
	done, err := appliedMigrations(ctx, s.rdb)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(done))
	for v := range done {
		out = append(out, v)
	}
	sort.Strings(out)
	return out, nil
}

// NonEmptyTables lists the registered tables that hold rows.
func (s *Store) NonEmptyTables(ctx context.Context) ([]string, error) {
	var out []string
	for _, t := range tables {
		var one int
		err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM "+quoteIdent(s.r, t.Name)+" LIMIT 1) AS x").Scan(&one)
		if err != nil {
			return nil, fmt.Errorf("check %s: %w", t.Name, err)
		}
		if one > 0 {
			out = append(out, t.Name)
		}
	}
	return out, nil
}

// EmptyAll deletes every row of every registered table (children first)
// and empties the search index, in one transaction.
func (s *Store) EmptyAll(ctx context.Context) error {
	return s.InTx(ctx, func(tx *Store) error {
		for i := len(tables) - 1; i >= 0; i-- {
			if _, err := tx.w.ExecContext(ctx, "DELETE FROM "+quoteIdent(tx.w, tables[i].Name)); err != nil {
				return fmt.Errorf("empty %s: %w", tables[i].Name, err)
			}
		}
		return tx.search.Clear(ctx, tx.w)
	})
}

// PrepareBulkLoad readies the writer for loading whole tables: on SQLite a
// 256 MiB page cache on the writer connection (inserts with random keys
// into large B-trees otherwise read their pages from disk again and
// again); Postgres needs nothing.
func (s *Store) PrepareBulkLoad(ctx context.Context) error {
	if s.dialect != SQLite {
		return nil
	}
	if _, err := s.wdb.ExecContext(ctx, "PRAGMA cache_size = -262144"); err != nil {
		return fmt.Errorf("prepare bulk load: %w", err)
	}
	return nil
}

// ClearSearch empties the search index (RebuildSearch fills it again).
func (s *Store) ClearSearch(ctx context.Context) error {
	return s.InTx(ctx, func(tx *Store) error { return tx.search.Clear(ctx, tx.w) })
}

// FixSequences moves every sequence that feeds a column of a registered
// table past the column's largest value, so that rows copied with their
// ids do not collide with new ones. SQLite needs nothing: its integer keys
// continue from the largest row.
func (s *Store) FixSequences(ctx context.Context) (int, error) {
	if s.dialect != Postgres {
		return 0, nil
	}
	n := 0
	for _, t := range tables {
		info, err := s.Describe(ctx, t.Name)
		if err != nil {
			return n, err
		}
		for _, c := range info.Columns {
			if c.Kind != KindInteger {
				continue
			}
			var seq *string
			if err := s.w.QueryRowContext(ctx, "SELECT pg_get_serial_sequence(?, ?)", t.Name, c.Name).Scan(&seq); err != nil {
				return n, fmt.Errorf("find sequence of %s.%s: %w", t.Name, c.Name, err)
			}
			if seq == nil {
				continue
			}
			col := quoteIdent(s.w, c.Name)
			if _, err := s.w.ExecContext(ctx, "SELECT setval(?, COALESCE((SELECT max("+col+") FROM "+quoteIdent(s.w, t.Name)+"), 0) + 1, false)", *seq); err != nil {
				return n, fmt.Errorf("fix sequence %s: %w", *seq, err)
			}
			n++
		}
	}
	return n, nil
}

// TableProgress is migrate-data's record of one table on its target.
type TableProgress struct {
	Table   string
	LastKey string // EncodeKey of the last row copied; "" before the first
	Rows    int64
	Done    bool
}

// HasProgress reports whether the database holds migrate-data's progress
// marker (an interrupted copy into it).
func (s *Store) HasProgress(ctx context.Context) (bool, error) {
	q := "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	if s.dialect == Postgres {
		q = "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?"
	}
	var n int
	if err := s.r.QueryRowContext(ctx, q, MigrateDataProgressTable).Scan(&n); err != nil {
		return false, fmt.Errorf("look for migrate-data progress: %w", err)
	}
	return n > 0, nil
}

// StartProgress creates the progress marker with the source it copies.
func (s *Store) StartProgress(ctx context.Context, source string) error {
	return s.InTx(ctx, func(tx *Store) error {
		if _, err := tx.w.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+MigrateDataProgressTable+
			" (tbl TEXT NOT NULL PRIMARY KEY, last_key TEXT NOT NULL, rows_copied BIGINT NOT NULL, done BOOLEAN NOT NULL, updated_at TEXT NOT NULL)"); err != nil {
			return fmt.Errorf("create migrate-data progress: %w", err)
		}
		return tx.setProgress(ctx, TableProgress{Table: "", LastKey: source})
	})
}

// Progress returns the marker's per-table records and the source it
// recorded.
func (s *Store) Progress(ctx context.Context) (source string, out map[string]TableProgress, err error) {
	rows, err := s.w.QueryContext(ctx, "SELECT tbl, last_key, rows_copied, done FROM "+MigrateDataProgressTable)
	if err != nil {
		return "", nil, fmt.Errorf("read migrate-data progress: %w", err)
	}
	defer rows.Close()
	out = map[string]TableProgress{}
	for rows.Next() {
		var p TableProgress
		if err := rows.Scan(&p.Table, &p.LastKey, &p.Rows, &p.Done); err != nil {
			return "", nil, fmt.Errorf("read migrate-data progress: %w", err)
		}
		if p.Table == "" {
			source = p.LastKey
			continue
		}
		out[p.Table] = p
	}
	return source, out, rows.Err()
}

// SetProgress records p; call it in the transaction that writes the rows
// it counts, so that the marker never runs ahead of or behind the data.
func (s *Store) SetProgress(ctx context.Context, p TableProgress) error { return s.setProgress(ctx, p) }

func (s *Store) setProgress(ctx context.Context, p TableProgress) error {
	_, err := s.w.ExecContext(ctx, "INSERT INTO "+MigrateDataProgressTable+" (tbl, last_key, rows_copied, done, updated_at) VALUES (?, ?, ?, ?, ?)"+
		" ON CONFLICT (tbl) DO UPDATE SET last_key = EXCLUDED.last_key, rows_copied = EXCLUDED.rows_copied, done = EXCLUDED.done, updated_at = EXCLUDED.updated_at",
		p.Table, p.LastKey, p.Rows, p.Done, Now().Format(TimeLayout))
	if err != nil {
		return fmt.Errorf("record migrate-data progress of %s: %w", p.Table, err)
	}
	return nil
}

// DropProgress removes the marker once the copy is verified.
func (s *Store) DropProgress(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, "DROP TABLE IF EXISTS "+MigrateDataProgressTable); err != nil {
		return fmt.Errorf("drop migrate-data progress: %w", err)
	}
	return nil
}

// EncodeKey renders a row's key values (KeyOf) as text for the progress
// marker; DecodeKey reads them back with their kinds.
func (t TableInfo) EncodeKey(key []any) (string, error) {
	vals := make([]any, len(key))
	for i, v := range key {
		if tm, ok := v.(time.Time); ok {
			v = tm.UTC().Format(TimeLayout)
		}
		vals[i] = v
	}
	b, err := json.Marshal(vals)
	return string(b), err
}

// DecodeKey is EncodeKey's inverse.
func (t TableInfo) DecodeKey(s string) ([]any, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil || len(raw) != len(t.Key) {
		return nil, fmt.Errorf("progress key %q of %s is malformed", s, t.Name)
	}
	out := make([]any, len(raw))
	for i, r := range raw {
		var v any
		switch t.Columns[t.Key[i]].Kind {
		case KindInteger:
			var n int64
			if err := json.Unmarshal(r, &n); err != nil {
				return nil, fmt.Errorf("progress key of %s: %w", t.Name, err)
			}
			v = n
		case KindReal:
			var f float64
			if err := json.Unmarshal(r, &f); err != nil {
				return nil, fmt.Errorf("progress key of %s: %w", t.Name, err)
			}
			v = f
		case KindBoolean:
			var b bool
			if err := json.Unmarshal(r, &b); err != nil {
				return nil, fmt.Errorf("progress key of %s: %w", t.Name, err)
			}
			v = b
		default:
			var str string
			if err := json.Unmarshal(r, &str); err != nil {
				return nil, fmt.Errorf("progress key of %s: %w", t.Name, err)
			}
			v = str
			if t.Columns[t.Key[i]].Kind == KindTimestamp {
				tm, err := time.Parse(TimeLayout, str)
				if err != nil {
					return nil, fmt.Errorf("progress key of %s: %w", t.Name, err)
				}
				v = tm
			}
		}
		out[i] = v
	}
	return out, nil
}

// VacuumInto writes a consistent copy of an SQLite database to path (which
// must not exist) with VACUUM INTO: a read transaction on the source, so
// writers, in this process or another, are not blocked
// (https://sqlite.org/lang_vacuum.html#vacuuminto).
func (s *Store) VacuumInto(ctx context.Context, path string) error {
	if s.dialect != SQLite {
		return errors.New("VACUUM INTO is SQLite's: back up Postgres with pg_dump")
	}
	gen := schema.NewQueryGen(s.wdb.Dialect())
	q := string(gen.Append([]byte("VACUUM INTO "), path))
	if _, err := s.wdb.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("snapshot database into %s: %w", path, err)
	}
	// While the snapshot's read transaction was open, no checkpoint could
	// move the WAL's frames into the database; the next writer to commit
	// would do all of it in its commit (a 1.5 s write after a 15 s
	// snapshot, measured). Checkpoint here instead: a passive checkpoint
	// blocks no writer, and a writer's own automatic checkpoint skips
	// while this one runs.
	if _, err := s.wdb.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
		return fmt.Errorf("checkpoint after the snapshot: %w", err)
	}
	return nil
}

// CheckIntegrity runs SQLite's integrity and foreign-key checks and
// returns the first problems found; on Postgres the database enforces
// both, so there is nothing to check.
func (s *Store) CheckIntegrity(ctx context.Context) error {
	if s.dialect != SQLite {
		return nil
	}
	var res string
	if err := s.rdb.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&res); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("integrity check: %s", res)
	}
	rows, err := s.rdb.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return fmt.Errorf("foreign key check: %w", err)
	}
	defer rows.Close()
	var bad []string
	for rows.Next() {
		var tbl, parent string
		var rowid, fkid *int64
		if err := rows.Scan(&tbl, &rowid, &parent, &fkid); err != nil {
			return fmt.Errorf("foreign key check: %w", err)
		}
		if len(bad) < 5 {
			bad = append(bad, fmt.Sprintf("a row of %s references a missing %s", tbl, parent))
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("foreign key check: %w", err)
	}
	if len(bad) > 0 {
		return fmt.Errorf("foreign key check: %v", bad)
	}
	return nil
}

// Count returns the number of rows of a table.
func (s *Store) Count(ctx context.Context, table string) (int64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteIdent(s.r, table)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	return n, nil
}

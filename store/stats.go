package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"

	"github.com/uptrace/bun"
)

// PoolStats reports the connection pools: "read" and "write" on SQLite
// (one writer connection, a pool of readers), "main" on Postgres.
func (s *Store) PoolStats() map[string]sql.DBStats {
	if s.rdb == s.wdb {
		return map[string]sql.DBStats{"main": s.wdb.Stats()}
	}
	return map[string]sql.DBStats{"read": s.rdb.Stats(), "write": s.wdb.Stats()}
}

// LiveStatuses are the statuses of sessions that are not terminal.
var LiveStatuses = []string{StatusInitializing, StatusRunning, StatusHibernating, StatusHibernated, StatusRestoring}

// CountLiveByStatus counts the sessions that are not terminal, by status;
// every live status is present (0 when none has it).
func (r Sessions) CountLiveByStatus(ctx context.Context) (map[string]int, error) {
	var rows []struct {
		Status string `bun:"status"`
		N      int    `bun:"n"`
	}
	err := r.s.r.NewSelect().Model((*Session)(nil)).Column("status").ColumnExpr("COUNT(*) AS n").
		Where("status NOT IN (?)", bun.In([]string{StatusTerminated, StatusError, StatusArchived})).
		Group("status").Scan(ctx, &rows)
	if err != nil {
		return nil, wrap("count live sessions", err)
	}
	out := make(map[string]int, len(LiveStatuses))
	for _, st := range LiveStatuses {
		out[st] = 0
	}
	for _, row := range rows {
		out[row.Status] = row.N
	}
	return out, nil
}

// PeekMigrations lists every migration this binary knows with its applied
// time, like MigrationStatus, but only reads (through the read pool): it
// neither creates schema_migrations nor takes the migration lock, so it
// can look at a database a server is using. Versions recorded in the
// database that this binary does not know (a newer binary migrated it)
// are returned in unknown. A database never migrated has every migration
// pending.
func (s *Store) PeekMigrations(ctx context.Context) (states []MigrationState, unknown []string, err error) {
	all, err := LoadMigrations(s.dialect)
	if err != nil {
		return nil, nil, err
	}
	var exists int
	q := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
	if s.dialect == Postgres {
		q = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'"
	}
	if err := s.rdb.QueryRowContext(ctx, q).Scan(&exists); err != nil {
		return nil, nil, fmt.Errorf("look for schema_migrations: %w", err)
	}
	done := map[string][2]string{}
	if exists > 0 {
		if done, err = appliedMigrations(ctx, s.rdb.DB); err != nil {
			return nil, nil, err
		}
	}
	known := map[string]bool{}
	for _, m := range all {
		known[m.Version] = true
		st := MigrationState{Migration: m}
		if rec, ok := done[m.Version]; ok {
			st.AppliedAt, _ = time.Parse(TimeLayout, rec[1])
		}
		states = append(states, st)
	}
	for v := range done {
		if !known[v] {
			unknown = append(unknown, v)
		}
	}
	sort.Strings(unknown)
	return states, unknown, nil
}

package store

import (
	"context"
	"database/sql"

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

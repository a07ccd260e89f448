package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"
)

// The dashboard's queries read sessions only: sessions of purpose workflow
// never count, and a session's messages and tool calls are its counters
// (message_count: user and assistant messages; tool_call_count), which
// the Messages repository keeps. A window counts the sessions created in
// it, with their messages.

// DashboardScope selects the sessions a figure covers: the org's (UserID
// empty) or one user's.
type DashboardScope struct {
	UserID string
}

// DashboardTotals are the figures of the sessions created in a window (or
// in one bucket of a series).
type DashboardTotals struct {
	Sessions       int
	ActiveSessions int // in ActiveStatuses now
	UniqueRepos    int // distinct workspaces (DashboardTotals only; 0 in a series)
	// DurationSeconds sums the whole seconds from creation to last activity.
	DurationSeconds int64
	Messages        int
	ToolCalls       int
}

func (s *Store) dashSessions(scope DashboardScope) *bun.SelectQuery {
	q := s.r.NewSelect().TableExpr("sessions AS s").Where("s.purpose <> 'workflow'")
	if scope.UserID != "" {
		q = q.Where("s.user_id = ?", scope.UserID)
	}
	return q
}

// secondsExpr is the whole seconds from column a to column b: a dialect
// helper (SQLite has unixepoch, Postgres extract(epoch)); both floor each
// instant to its second first, so that they agree to the second.
func (s *Store) secondsExpr(a, b string) string {
	if s.dialect == Postgres {
		return fmt.Sprintf("(floor(extract(epoch FROM %s))::bigint - floor(extract(epoch FROM %s))::bigint)", b, a)
	}
	return fmt.Sprintf("(unixepoch(%s) - unixepoch(%s))", b, a)
}

// DashboardTotals computes the figures of the sessions created in
// [from, to).
func (s *Store) DashboardTotals(ctx context.Context, scope DashboardScope, from, to time.Time) (DashboardTotals, error) {
	var t DashboardTotals
	err := s.dashSessions(scope).
		ColumnExpr("count(*)").
		ColumnExpr("count(DISTINCT s.workspace)").
		ColumnExpr("count(CASE WHEN s.status IN (?) THEN 1 END)", bun.In(ActiveStatuses)).
		ColumnExpr("coalesce(sum("+s.secondsExpr("s.created_at", "s.last_active_at")+"), 0)").
		ColumnExpr("coalesce(sum(s.message_count), 0)").
		ColumnExpr("coalesce(sum(s.tool_call_count), 0)").
		Where("s.created_at >= ?", from).Where("s.created_at < ?", to).
		Scan(ctx, &t.Sessions, &t.UniqueRepos, &t.ActiveSessions, &t.DurationSeconds, &t.Messages, &t.ToolCalls)
	return t, wrap("dashboard totals", err)
}

// daySeries is the dialect helper that makes one row (i, lo, hi) per
// bucket i of edges (n+1 instants; bucket i is [edges[i], edges[i+1])) as
// a CTE named d: a recursive CTE on SQLite, generate_series on Postgres.
// The edges come from Go, which knows time zones (local midnights,
// daylight saving); SQLite has no time-zone database.
func (s *Store) daySeries(edges []time.Time) (string, []any, error) {
	texts := make([]string, len(edges))
	for i, e := range edges {
		texts[i] = e.UTC().Format(TimeLayout)
	}
	raw, err := json.Marshal(texts)
	if err != nil {
		return "", nil, err
	}
	n := len(edges) - 1
	if s.dialect == Postgres {
		return `WITH d AS (SELECT i, (?::jsonb ->> i)::timestamptz AS lo, (?::jsonb ->> (i + 1))::timestamptz AS hi
			FROM generate_series(0, ? - 1) AS i) `, []any{string(raw), string(raw), n}, nil
	}
	return `WITH RECURSIVE b(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM b WHERE i + 1 < ?),
		d AS (SELECT i, json_extract(?, '$[' || i || ']') AS lo, json_extract(?, '$[' || (i + 1) || ']') AS hi FROM b) `,
		[]any{n, string(raw), string(raw)}, nil
}

// DashboardSeries returns the figures of each bucket between consecutive
// edges: len(edges)-1 buckets, none missing (an empty one is zeros), in
// order. Edges must ascend. Summed, they are the window's totals (but for
// UniqueRepos, which a series does not count).
func (s *Store) DashboardSeries(ctx context.Context, scope DashboardScope, edges []time.Time) ([]DashboardTotals, error) {
	n := len(edges) - 1
	if n < 1 {
		return nil, nil
	}
	series, args, err := s.daySeries(edges)
	if err != nil {
		return nil, err
	}
	// A bucket without sessions has one row of NULLs from the left join:
	// every figure counts or sums s's columns, which are NULL there.
	query := series + `SELECT d.i AS i, count(s.id) AS sessions,
		count(CASE WHEN s.status IN (?) THEN 1 END) AS active,
		coalesce(sum(` + s.secondsExpr("s.created_at", "s.last_active_at") + `), 0) AS duration,
		coalesce(sum(s.message_count), 0) AS messages, coalesce(sum(s.tool_call_count), 0) AS tools
		FROM d LEFT JOIN sessions AS s ON s.created_at >= d.lo AND s.created_at < d.hi AND s.purpose <> 'workflow'`
	args = append(slices.Clone(args), bun.In(ActiveStatuses))
	if scope.UserID != "" {
		query += " AND s.user_id = ?"
		args = append(args, scope.UserID)
	}
	var rows []struct {
		I        int   `bun:"i"`
		Sessions int   `bun:"sessions"`
		Active   int   `bun:"active"`
		Duration int64 `bun:"duration"`
		Messages int   `bun:"messages"`
		Tools    int   `bun:"tools"`
	}
	if err := s.r.NewRaw(query+" GROUP BY d.i ORDER BY d.i", args...).Scan(ctx, &rows); err != nil {
		return nil, wrap("dashboard series", err)
	}
	out := make([]DashboardTotals, n)
	for _, r := range rows {
		out[r.I] = DashboardTotals{Sessions: r.Sessions, ActiveSessions: r.Active, DurationSeconds: r.Duration,
			Messages: r.Messages, ToolCalls: r.Tools}
	}
	return out, nil
}

// RepoCount is a workspace's share of a window.
type RepoCount struct {
	Workspace    string `bun:"workspace"`
	SessionCount int    `bun:"session_count"`
	MessageCount int    `bun:"message_count"`
}

// Repos returns every workspace with sessions created in [from, to),
// with those sessions' messages, busiest first (ties by name).
func (s *Store) Repos(ctx context.Context, scope DashboardScope, from, to time.Time) ([]RepoCount, error) {
	out := []RepoCount{}
	err := s.dashSessions(scope).
		ColumnExpr("s.workspace AS workspace").
		ColumnExpr("count(*) AS session_count").
		ColumnExpr("coalesce(sum(s.message_count), 0) AS message_count").
		Where("s.created_at >= ?", from).Where("s.created_at < ?", to).
		GroupExpr("s.workspace").OrderExpr("session_count DESC, workspace ASC").
		Scan(ctx, &out)
	return out, wrap("dashboard top repos", err)
}

// RecentSessions returns a user's newest non-workflow sessions.
func (s *Store) RecentSessions(ctx context.Context, userID string, limit int) ([]Session, error) {
	var out []Session
	// ?TableAlias.* also reads the counters, which a model select leaves
	// out (they are scan-only).
	err := s.r.NewSelect().Model(&out).ColumnExpr("?TableAlias.*").Where("user_id = ?", userID).Where("purpose <> 'workflow'").
		OrderExpr("created_at DESC, id DESC").Limit(int64(limit)).Scan(ctx)
	return out, wrap("dashboard recent sessions", err)
}

// ActiveSessionsOf returns a user's non-workflow sessions in
// ActiveStatuses, most recently active first.
func (s *Store) ActiveSessionsOf(ctx context.Context, userID string, limit int) ([]Session, error) {
	var out []Session
	err := s.r.NewSelect().Model(&out).Where("user_id = ?", userID).Where("purpose <> 'workflow'").
		Where("status IN (?)", bun.In(ActiveStatuses)).
		OrderExpr("last_active_at DESC, id DESC").Limit(int64(limit)).Scan(ctx)
	return out, wrap("dashboard active sessions", err)
}

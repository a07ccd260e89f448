package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"
)

// The dashboard's queries. Sessions of purpose workflow are never counted;
// "messages" are the user and assistant messages of those sessions.

// DashboardScope selects the sessions a figure covers: the org's (UserID
// empty) or one user's.
type DashboardScope struct {
	UserID string
}

// DashboardTotals are the hero figures of a window.
type DashboardTotals struct {
	Sessions       int // created in the window
	ActiveSessions int // of those, in ActiveStatuses now
	UniqueRepos    int // distinct workspaces of those
	// DurationSeconds sums, over those sessions, the whole seconds from
	// creation to last activity.
	DurationSeconds int64
	Messages        int // created in the window
	ToolCalls       int // in the messages created in the window
}

var countedRoles = []string{"user", "assistant"}

func (s *Store) dashSessions(scope DashboardScope, alias string) *bun.SelectQuery {
	q := s.r.NewSelect().TableExpr("sessions AS " + alias).Where(alias + ".purpose <> 'workflow'")
	if scope.UserID != "" {
		q = q.Where(alias+".user_id = ?", scope.UserID)
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

// DashboardTotals computes the hero figures of sessions and messages
// created in [from, to).
func (s *Store) DashboardTotals(ctx context.Context, scope DashboardScope, from, to time.Time) (DashboardTotals, error) {
	var t DashboardTotals
	err := s.dashSessions(scope, "s").
		ColumnExpr("count(*)").
		ColumnExpr("count(CASE WHEN s.status IN (?) THEN 1 END)", bun.In(ActiveStatuses)).
		ColumnExpr("count(DISTINCT s.workspace)").
		ColumnExpr("coalesce(sum("+s.secondsExpr("s.created_at", "s.last_active_at")+"), 0)").
		Where("s.created_at >= ?", from).Where("s.created_at < ?", to).
		Scan(ctx, &t.Sessions, &t.ActiveSessions, &t.UniqueRepos, &t.DurationSeconds)
	if err != nil {
		return t, wrap("dashboard session totals", err)
	}
	err = s.dashSessions(scope, "s").
		Join("JOIN messages AS m ON m.session_id = s.id").
		ColumnExpr("count(*)").ColumnExpr("coalesce(sum(m.tool_call_count), 0)").
		Where("m.role IN (?)", bun.In(countedRoles)).
		Where("m.created_at >= ?", from).Where("m.created_at < ?", to).
		Scan(ctx, &t.Messages, &t.ToolCalls)
	return t, wrap("dashboard message totals", err)
}

// DayCount is one bucket of a daily series.
type DayCount struct {
	Sessions int
	Messages int
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

// DailyActivity counts, per bucket between consecutive edges, the sessions
// and messages created in it: len(edges)-1 buckets, none missing, in
// order. Edges must ascend.
func (s *Store) DailyActivity(ctx context.Context, scope DashboardScope, edges []time.Time) ([]DayCount, error) {
	n := len(edges) - 1
	if n < 1 {
		return nil, nil
	}
	series, args, err := s.daySeries(edges)
	if err != nil {
		return nil, err
	}
	scopeSQL, scopeArgs := "", []any{}
	if scope.UserID != "" {
		scopeSQL, scopeArgs = " AND s.user_id = ?", []any{scope.UserID}
	}
	out := make([]DayCount, n)
	var rows []struct {
		I int `bun:"i"`
		N int `bun:"n"`
	}
	err = s.r.NewRaw(series+`SELECT d.i, count(s.id) AS n FROM d
		LEFT JOIN sessions AS s ON s.created_at >= d.lo AND s.created_at < d.hi AND s.purpose <> 'workflow'`+scopeSQL+`
		GROUP BY d.i ORDER BY d.i`, append(slices.Clone(args), scopeArgs...)...).Scan(ctx, &rows)
	if err != nil {
		return nil, wrap("dashboard sessions by day", err)
	}
	for _, r := range rows {
		out[r.I].Sessions = r.N
	}
	rows = rows[:0]
	margs := append(slices.Clone(args), bun.In(countedRoles))
	err = s.r.NewRaw(series+`SELECT d.i, count(s.id) AS n FROM d
		LEFT JOIN messages AS m ON m.created_at >= d.lo AND m.created_at < d.hi AND m.role IN (?)
		LEFT JOIN sessions AS s ON s.id = m.session_id AND s.purpose <> 'workflow'`+scopeSQL+`
		GROUP BY d.i ORDER BY d.i`, append(margs, scopeArgs...)...).Scan(ctx, &rows)
	if err != nil {
		return nil, wrap("dashboard messages by day", err)
	}
	for _, r := range rows {
		out[r.I].Messages = r.N
	}
	return out, nil
}

// RepoCount is a workspace's share of a window.
type RepoCount struct {
	Workspace    string `bun:"workspace"`
	SessionCount int    `bun:"session_count"`
	MessageCount int    `bun:"message_count"`
}

// TopRepos returns the limit workspaces with the most sessions created in
// [from, to), with the messages of those sessions; ties by name.
func (s *Store) TopRepos(ctx context.Context, scope DashboardScope, from, to time.Time, limit int) ([]RepoCount, error) {
	out := []RepoCount{}
	err := s.dashSessions(scope, "s").
		Join("LEFT JOIN messages AS m ON m.session_id = s.id AND m.role IN (?)", bun.In(countedRoles)).
		ColumnExpr("s.workspace AS workspace").
		ColumnExpr("count(DISTINCT s.id) AS session_count").
		ColumnExpr("count(m.id) AS message_count").
		Where("s.created_at >= ?", from).Where("s.created_at < ?", to).
		GroupExpr("s.workspace").OrderExpr("session_count DESC, workspace ASC").Limit(int64(limit)).
		Scan(ctx, &out)
	return out, wrap("dashboard top repos", err)
}

// SessionCounts are a session's message and tool call counts.
type SessionCounts struct {
	Messages  int
	ToolCalls int
}

// CountsBySession returns the message and tool call counts of sessions.
func (s *Store) CountsBySession(ctx context.Context, ids []string) (map[string]SessionCounts, error) {
	out := map[string]SessionCounts{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []struct {
		SessionID string `bun:"session_id"`
		Messages  int    `bun:"messages"`
		ToolCalls int    `bun:"tool_calls"`
	}
	err := s.r.NewSelect().Model((*Message)(nil)).Column("session_id").
		ColumnExpr("count(CASE WHEN role IN (?) THEN 1 END) AS messages", bun.In(countedRoles)).
		ColumnExpr("coalesce(sum(tool_call_count), 0) AS tool_calls").
		Where("session_id IN (?)", bun.In(ids)).Group("session_id").Scan(ctx, &rows)
	if err != nil {
		return nil, wrap("dashboard counts by session", err)
	}
	for _, r := range rows {
		out[r.SessionID] = SessionCounts{Messages: r.Messages, ToolCalls: r.ToolCalls}
	}
	return out, nil
}

// RecentSessions returns a user's newest non-workflow sessions.
func (s *Store) RecentSessions(ctx context.Context, userID string, limit int) ([]Session, error) {
	var out []Session
	err := s.r.NewSelect().Model(&out).Where("user_id = ?", userID).Where("purpose <> 'workflow'").
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

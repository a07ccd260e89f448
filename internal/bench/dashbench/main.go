// Command dashbench measures GET /api/dashboard/stats's work (the
// dashboard service's Stats call) on a database holding many sessions, on
// SQLite and on Postgres.
//
//	go run -tags sqlite_fts5 ./internal/bench/dashbench -sessions 100000 -runs 20
//
// It loads the sessions (spread over the last 90 days, 50 users, 200
// workspaces, one in ten a workflow session, each with a user and an
// assistant message) into a fresh SQLite file and a fresh database on a
// throwaway Postgres (AGENTOPS_TEST_POSTGRES_URL, else one it starts), then
// times Stats for a few windows and zones and prints the median, the 90th
// percentile and the maximum.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/agentops/agentops/app/dashboard"
	"github.com/agentops/agentops/internal/testutil/pgtest"
	"github.com/agentops/agentops/store"
)

func main() {
	n := flag.Int("sessions", 100000, "sessions to load")
	runs := flag.Int("runs", 20, "timed calls per query")
	dbs := flag.String("db", "sqlite,postgres", "databases to measure")
	flag.Parse()
	if err := run(*n, *runs, strings.Split(*dbs, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "dashbench:", err)
		os.Exit(1)
	}
}

func run(n, runs int, dbs []string) error {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	for _, db := range dbs {
		url, cleanup, err := database(ctx, db)
		if err != nil {
			return err
		}
		err = measure(ctx, db, url, n, runs, now)
		cleanup()
		if err != nil {
			return err
		}
	}
	return nil
}

func database(ctx context.Context, db string) (string, func(), error) {
	switch db {
	case "sqlite":
		dir, err := os.MkdirTemp("", "dashbench-")
		if err != nil {
			return "", nil, err
		}
		return filepath.Join(dir, "agentops.db"), func() { os.RemoveAll(dir) }, nil
	case "postgres":
		admin := os.Getenv("AGENTOPS_TEST_POSTGRES_URL")
		stop := func() {}
		if admin == "" {
			srv, err := pgtest.Start(ctx)
			if err != nil {
				return "", nil, err
			}
			admin, stop = srv.URL(), func() { _ = srv.Stop() }
		}
		u, drop, err := pgtest.CreateDatabase(ctx, admin, "dashbench")
		if err != nil {
			stop()
			return "", nil, err
		}
		return u, func() { drop(); stop() }, nil
	}
	return "", nil, fmt.Errorf("unknown database %q", db)
}

func measure(ctx context.Context, db, url string, n, runs int, now time.Time) error {
	st, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}
	t0 := time.Now()
	users, err := load(ctx, st, n, now)
	if err != nil {
		return err
	}
	// Statistics as a long-running database would have them (autovacuum
	// on Postgres; SQLite's optimize).
	if _, err := st.DB().ExecContext(ctx, "ANALYZE"); err != nil {
		return err
	}
	fmt.Printf("\n%s: loaded %d sessions and %d messages in %s\n", db, n, 2*n, time.Since(t0).Round(time.Millisecond))
	svc := dashboard.New(st, func() time.Time { return now })
	queries := []struct {
		name string
		q    dashboard.Query
	}{
		{"720 hours, UTC (the client's default)", dashboard.Query{}},
		{"90 days, America/New_York", dashboard.Query{Period: 90, Unit: "days", TZ: "America/New_York"}},
		{"24 hours, Europe/Berlin", dashboard.Query{Period: 24, TZ: "Europe/Berlin"}},
	}
	fmt.Printf("| query | sessions in window | p50 | p90 | max |\n|---|---|---|---|---|\n")
	for _, qq := range queries {
		var times []time.Duration
		var stats *dashboard.Stats
		for i := 0; i <= runs; i++ {
			t := time.Now()
			stats, err = svc.Stats(ctx, users[i%len(users)], qq.q)
			if err != nil {
				return err
			}
			if i > 0 { // the first call warms caches
				times = append(times, time.Since(t))
			}
		}
		if _, err := json.Marshal(stats); err != nil {
			return err
		}
		slices.Sort(times)
		pct := func(p float64) time.Duration {
			return times[int(p*float64(len(times)-1))].Round(100 * time.Microsecond)
		}
		fmt.Printf("| %s | %d | %s | %s | %s |\n", qq.name, stats.Hero.TotalSessions, pct(0.5), pct(0.9), times[len(times)-1].Round(100*time.Microsecond))
	}
	return nil
}

// load inserts n sessions over the 90 days before now, in time order, with
// two messages each, in statements of 5000 rows.
func load(ctx context.Context, st *store.Store, n int, now time.Time) ([]*store.User, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	var users []*store.User
	for i := range 50 {
		u := &store.User{ID: uuid.NewString(), Email: fmt.Sprintf("user%d@example.com", i), Role: store.RoleMember,
			UIQueueMode: "followup", IdentityProvider: "email", CreatedAt: now, UpdatedAt: now}
		if err := st.Users().Create(ctx, u); err != nil {
			return nil, err
		}
		users = append(users, u)
	}
	statuses := []string{store.StatusTerminated, store.StatusTerminated, store.StatusTerminated, store.StatusRunning, store.StatusHibernated, store.StatusError}
	span := 90 * 24 * time.Hour
	// Rows arrive in time order, as a server writes them.
	times := make([]time.Time, n)
	for i := range times {
		times[i] = now.Add(-time.Duration(rng.Int64N(int64(span)))).Truncate(time.Microsecond)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	const batch = 5000
	for start := 0; start < n; start += batch {
		var sessions []store.Session
		var messages []store.Message
		for i := start; i < min(start+batch, n); i++ {
			at := times[i]
			purpose := "interactive"
			if rng.IntN(10) == 0 {
				purpose = "workflow"
			}
			s := store.Session{ID: uuid.NewString(), UserID: users[rng.IntN(len(users))].ID, Workspace: fmt.Sprintf("org/repo-%d", rng.IntN(200)),
				Status: statuses[rng.IntN(len(statuses))], Purpose: purpose, Agent: "script", CreatedAt: at, UpdatedAt: at,
				LastActiveAt: at.Add(time.Duration(rng.IntN(7200)) * time.Second)}
			sessions = append(sessions, s)
			tools, parts := 0, json.RawMessage(`[{"type":"text","text":"done"}]`)
			if rng.IntN(4) == 0 {
				tools, parts = 1, json.RawMessage(`[{"type":"tool-call","callId":"c1","toolName":"bash","status":"completed"},{"type":"text","text":"done"}]`)
			}
			messages = append(messages,
				store.Message{ID: uuid.NewString(), SessionID: s.ID, Seq: 1, Role: "user", Content: "do it", Parts: json.RawMessage(`[]`),
					CreatedAt: at, UpdatedAt: at},
				store.Message{ID: uuid.NewString(), SessionID: s.ID, Seq: 2, Role: "assistant", Content: "done", Parts: parts,
					ToolCalls: tools, CreatedAt: at.Add(30 * time.Second), UpdatedAt: at.Add(30 * time.Second)})
		}
		if _, err := st.DB().NewInsert().Model(&sessions).Exec(ctx); err != nil {
			return nil, err
		}
		if _, err := st.DB().NewInsert().Model(&messages).Exec(ctx); err != nil {
			return nil, err
		}
	}
	// Bulk inserts bypass the Messages repository, which keeps the
	// sessions' counters: set them as migration 0010's backfill does.
	_, err := st.DB().ExecContext(ctx, `UPDATE sessions SET
		message_count = (SELECT count(*) FROM messages AS m WHERE m.session_id = sessions.id AND m.role IN ('user', 'assistant')),
		tool_call_count = (SELECT coalesce(sum(m.tool_call_count), 0) FROM messages AS m WHERE m.session_id = sessions.id)`)
	return users, err
}

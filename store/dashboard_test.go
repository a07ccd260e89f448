package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func mkMessage(t *testing.T, s *store.Store, sessionID string, seq int64, role, parts string, created time.Time) *store.Message {
	t.Helper()
	m := &store.Message{ID: uuid.NewString(), SessionID: sessionID, Seq: seq, Role: role, Parts: json.RawMessage(parts),
		CreatedAt: created, UpdatedAt: created}
	noErr(t, "insert message", s.Messages().Insert(context.Background(), m))
	return m
}

func TestMessagesCountTheirToolCalls(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "a@example.com", store.RoleMember, base)
		sess := mkAgentSession(t, s, u.ID, "running", base)
		m := mkMessage(t, s, sess.ID, 1, "assistant", `[{"type":"tool-call","callId":"1"},{"type":"text","text":"tool-call"}]`, base)
		if m.ToolCalls != 1 {
			t.Fatalf("insert counted %d tool calls, want 1", m.ToolCalls)
		}
		m.Parts = json.RawMessage(`[{"type":"tool-call","callId":"1"},{"type":"tool-call","callId":"2"},{"type":"tool-call","callId":"3"}]`)
		noErr(t, "update", s.Messages().UpdateBody(ctx, m))
		got, err := s.Messages().Get(ctx, m.ID)
		noErr(t, "get", err)
		if got.ToolCalls != 3 {
			t.Fatalf("after update: %d tool calls, want 3", got.ToolCalls)
		}
		legacy := mkMessage(t, s, sess.ID, 2, "tool", `{"type":"tool-call","callId":"x"}`, base)
		if legacy.ToolCalls != 0 {
			t.Fatalf("a single-object part is not a parts array: %d", legacy.ToolCalls)
		}
	})
}

// Migration 0010 counts the tool calls of messages that existed before it.
func TestToolCallBackfill(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "a@example.com", store.RoleMember, base)
		sess := mkAgentSession(t, s, u.ID, "running", base)
		for i, parts := range []string{
			`[]`,
			`[{"type":"tool-call"},{"type":"text","text":"\"tool-call\""},{"type":"tool-call"}]`,
			`{"type":"tool-call"}`,
			`[{"type":"text","text":"tool-call"}]`,
		} {
			mkMessage(t, s, sess.ID, int64(i+1), "assistant", parts, base)
		}
		_, err := s.DB().NewRaw("UPDATE messages SET tool_call_count = 0").Exec(ctx)
		noErr(t, "reset", err)
		migs, err := store.LoadMigrations(s.Dialect())
		noErr(t, "load migrations", err)
		var backfill string
		for _, m := range migs {
			if m.Version == "0010" {
				for _, stmt := range strings.Split(m.SQL, ";") {
					if strings.Contains(stmt, "UPDATE messages") {
						backfill = stmt
					}
				}
			}
		}
		if backfill == "" {
			t.Fatal("no backfill in migration 0010")
		}
		_, err = s.DB().ExecContext(ctx, backfill)
		noErr(t, "backfill", err)
		var counts []int
		noErr(t, "read", s.DB().NewRaw("SELECT tool_call_count FROM messages ORDER BY seq").Scan(ctx, &counts))
		if len(counts) != 4 || counts[0] != 0 || counts[1] != 2 || counts[2] != 0 || counts[3] != 0 {
			t.Fatalf("backfilled counts %v, want [0 2 0 0]", counts)
		}
	})
}

// Message writes keep the sessions' counters: inserts (once per id),
// body updates (tool calls), and reverts.
func TestSessionCountersFollowTheTranscript(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "a@example.com", store.RoleMember, base)
		sess := mkAgentSession(t, s, u.ID, "running", base)
		counts := func() (int, int) {
			t.Helper()
			var m, tc int
			noErr(t, "read counters", s.DB().NewRaw("SELECT message_count, tool_call_count FROM sessions WHERE id = ?", sess.ID).Scan(ctx, &m, &tc))
			return m, tc
		}
		mkMessage(t, s, sess.ID, 1, "user", `[]`, base)
		a := mkMessage(t, s, sess.ID, 2, "assistant", `[{"type":"tool-call"}]`, base)
		mkMessage(t, s, sess.ID, 3, "system", `[{"type":"error"}]`, base)
		noErr(t, "insert again", s.Messages().Insert(ctx, a)) // a replay changes nothing
		if m, tc := counts(); m != 2 || tc != 1 {
			t.Fatalf("after inserts: %d messages, %d tool calls; want 2, 1", m, tc)
		}
		a.Parts = json.RawMessage(`[{"type":"tool-call"},{"type":"tool-call"},{"type":"tool-call"}]`)
		noErr(t, "update", s.Messages().UpdateBody(ctx, a))
		if m, tc := counts(); m != 2 || tc != 3 {
			t.Fatalf("after update: %d, %d; want 2, 3", m, tc)
		}
		// The actor's own session writes never touch the counters.
		sess.Status = store.StatusHibernated
		noErr(t, "session update", s.Sessions().Update(ctx, sess, "status"))
		if m, tc := counts(); m != 2 || tc != 3 {
			t.Fatalf("a session update changed the counters: %d, %d", m, tc)
		}
		_, err := s.Messages().DeleteFrom(ctx, sess.ID, 2)
		noErr(t, "revert", err)
		if m, tc := counts(); m != 1 || tc != 0 {
			t.Fatalf("after revert: %d, %d; want 1, 0", m, tc)
		}
	})
}

func TestDashboardQueries(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "a@example.com", store.RoleMember, base)
		v := mkUser(t, s, "b@example.com", store.RoleMember, base)
		mk := func(owner, workspace, status, purpose string, created time.Time, active time.Duration) *store.Session {
			sess := &store.Session{ID: uuid.NewString(), UserID: owner, Workspace: workspace, Status: status, Purpose: purpose,
				Agent: "script", CreatedAt: created, UpdatedAt: created, LastActiveAt: created.Add(active)}
			noErr(t, "session", s.Sessions().Create(ctx, sess))
			return sess
		}
		// Durations with fractions of seconds: both databases floor each
		// instant to its second (a: :26.1 → :56.9 of the next minute = 90 s).
		a := mk(u.ID, "api", store.StatusRunning, "interactive", at(100*time.Millisecond), 90*time.Second+800*time.Millisecond)
		b := mk(u.ID, "api", store.StatusTerminated, "interactive", at(time.Hour), 10*time.Second)
		c := mk(v.ID, "web", store.StatusInitializing, "interactive", at(2*time.Hour), 0)
		w := mk(v.ID, "api", store.StatusRunning, "workflow", at(time.Hour), time.Hour) // never counted
		mk(u.ID, "old", store.StatusRunning, "interactive", at(-48*time.Hour), 0)       // before the window
		mkMessage(t, s, a.ID, 1, "user", `[]`, at(time.Minute))
		mkMessage(t, s, a.ID, 2, "assistant", `[{"type":"tool-call"},{"type":"tool-call"}]`, at(2*time.Minute))
		mkMessage(t, s, a.ID, 3, "system", `[]`, at(3*time.Minute))
		mkMessage(t, s, c.ID, 1, "user", `[]`, at(3*time.Hour))
		mkMessage(t, s, w.ID, 1, "user", `[]`, at(3*time.Hour))

		from, to := base, at(24*time.Hour)
		org, err := s.DashboardTotals(ctx, store.DashboardScope{}, from, to)
		noErr(t, "org totals", err)
		want := store.DashboardTotals{Sessions: 3, ActiveSessions: 2, UniqueRepos: 2, DurationSeconds: 90 + 10 + 0, Messages: 3, ToolCalls: 2}
		if org != want {
			t.Fatalf("org totals %+v, want %+v", org, want)
		}
		mine, err := s.DashboardTotals(ctx, store.DashboardScope{UserID: u.ID}, from, to)
		noErr(t, "user totals", err)
		if want := (store.DashboardTotals{Sessions: 2, ActiveSessions: 1, UniqueRepos: 1, DurationSeconds: 100, Messages: 2, ToolCalls: 2}); mine != want {
			t.Fatalf("user totals %+v, want %+v", mine, want)
		}
		repos, err := s.Repos(ctx, store.DashboardScope{}, from, to)
		noErr(t, "repos", err)
		if len(repos) != 2 || repos[0] != (store.RepoCount{Workspace: "api", SessionCount: 2, MessageCount: 2}) ||
			repos[1] != (store.RepoCount{Workspace: "web", SessionCount: 1, MessageCount: 1}) {
			t.Fatalf("repos %+v", repos)
		}
		recent, err := s.RecentSessions(ctx, u.ID, 2)
		noErr(t, "recent", err)
		if len(recent) != 2 || recent[0].ID != b.ID || recent[1].ID != a.ID || recent[1].MessageCount != 2 || recent[1].ToolCallCount != 2 {
			t.Fatalf("recent: %+v", recent)
		}
		active, err := s.ActiveSessionsOf(ctx, u.ID, 10)
		noErr(t, "active", err)
		if len(active) != 2 || active[0].ID != a.ID { // a was active last
			t.Fatalf("active: %d", len(active))
		}
		// Buckets: [0, 90 min) holds a and b, [90 min, 1 day) holds c, the
		// last one is empty but present.
		days, err := s.DashboardSeries(ctx, store.DashboardScope{}, []time.Time{base, at(90 * time.Minute), at(24 * time.Hour), at(48 * time.Hour)})
		noErr(t, "series", err)
		want0 := store.DashboardTotals{Sessions: 2, ActiveSessions: 1, DurationSeconds: 100, Messages: 2, ToolCalls: 2}
		want1 := store.DashboardTotals{Sessions: 1, ActiveSessions: 1, Messages: 1}
		if len(days) != 3 || days[0] != want0 || days[1] != want1 || days[2] != (store.DashboardTotals{}) {
			t.Fatalf("series %+v", days)
		}
	})
}

package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/dashboard"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// fixture is the same data on each database: two users' sessions every 37
// minutes through the daylight-saving weeks of 2026 (March and April, the
// end of October), each with a user and an assistant message a minute
// later, plus workflow sessions and system messages, which never count.
type fixture struct {
	alice, bob *store.User
	sessions   []store.Session
	messages   []store.Message
}

func newFixture() *fixture {
	f := &fixture{}
	mk := func(email string) *store.User {
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		return &store.User{ID: uuid.NewString(), Email: email, Role: store.RoleMember, UIQueueMode: "followup",
			IdentityProvider: "email", CreatedAt: t0, UpdatedAt: t0}
	}
	f.alice, f.bob = mk("alice@example.com"), mk("bob@example.com")
	ranges := [][2]time.Time{
		{time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 12, 0, 0, 0, 0, time.UTC)},
		{time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 8, 0, 0, 0, 0, time.UTC)},
		{time.Date(2026, 10, 22, 0, 0, 0, 0, time.UTC), time.Date(2026, 10, 29, 0, 0, 0, 0, time.UTC)},
	}
	i := 0
	for _, r := range ranges {
		for at := r[0]; at.Before(r[1]); at = at.Add(37 * time.Minute) {
			owner, purpose := f.alice, "interactive"
			if i%3 == 0 {
				owner = f.bob
			}
			if i%11 == 0 {
				purpose = "workflow"
			}
			status := store.StatusTerminated
			if i%5 == 0 {
				status = store.StatusRunning
			}
			s := store.Session{ID: uuid.NewString(), UserID: owner.ID, Workspace: fmt.Sprintf("repo-%d", i%13), Status: status,
				Purpose: purpose, Agent: "script", CreatedAt: at, UpdatedAt: at, LastActiveAt: at.Add(time.Duration(i%50)*time.Minute + 500*time.Millisecond)}
			f.sessions = append(f.sessions, s)
			for j, role := range []string{"user", "assistant", "system"} {
				parts, tools := json.RawMessage(`[]`), 0
				if role == "assistant" && i%4 == 0 {
					parts, tools = json.RawMessage(`[{"type":"tool-call","callId":"a"},{"type":"text","text":"x"},{"type":"tool-call","callId":"b"}]`), 2
				}
				f.messages = append(f.messages, store.Message{ID: uuid.NewString(), SessionID: s.ID, Seq: int64(j + 1), Role: role,
					Parts: parts, ToolCalls: tools, CreatedAt: at.Add(time.Minute), UpdatedAt: at.Add(time.Minute)})
			}
			i++
		}
	}
	return f
}

func (f *fixture) load(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	for _, u := range []*store.User{f.alice, f.bob} {
		if err := st.Users().Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.DB().NewInsert().Model(&f.sessions).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	// In bulk, bypassing Messages().Insert, which counts the tool calls
	// (the fixture does) and keeps the sessions' counters (set below as
	// migration 0010's backfill does).
	if _, err := st.DB().NewInsert().Model(&f.messages).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().ExecContext(ctx, `UPDATE sessions SET
		message_count = (SELECT count(*) FROM messages AS m WHERE m.session_id = sessions.id AND m.role IN ('user', 'assistant')),
		tool_call_count = (SELECT coalesce(sum(m.tool_call_count), 0) FROM messages AS m WHERE m.session_id = sessions.id)`); err != nil {
		t.Fatal(err)
	}
}

// want counts, in Go, the sessions created in each day and their
// figures.
func (f *fixture) want(days []dashboard.Day, userID string) []store.DashboardTotals {
	out := make([]store.DashboardTotals, len(days))
	bySession := map[string][]store.Message{}
	for _, m := range f.messages {
		bySession[m.SessionID] = append(bySession[m.SessionID], m)
	}
	bucket := func(at time.Time) int {
		for i, d := range days {
			if !at.Before(d.Start) && at.Before(d.End) {
				return i
			}
		}
		return -1
	}
	for _, s := range f.sessions {
		b := bucket(s.CreatedAt)
		if b < 0 || s.Purpose == "workflow" || userID != "" && s.UserID != userID {
			continue
		}
		out[b].Sessions++
		if s.Status == store.StatusRunning {
			out[b].ActiveSessions++
		}
		out[b].DurationSeconds += s.LastActiveAt.Unix() - s.CreatedAt.Unix()
		for _, m := range bySession[s.ID] {
			if m.Role != "system" {
				out[b].Messages++
			}
			out[b].ToolCalls += m.ToolCalls
		}
	}
	return out
}

// The daily series comes out the same on SQLite and Postgres, and as Go
// counts it, across day boundaries, daylight-saving changes and zones.
func TestDailySeriesIsTheSameOnBothDatabases(t *testing.T) {
	f := newFixture()
	stores := map[store.Dialect]*store.Store{}
	for _, d := range storetest.Dialects {
		stores[d] = storetest.Open(t, d)
		f.load(t, stores[d])
	}
	utc := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
	windows := []struct {
		zone     string
		from, to time.Time
	}{
		{"America/New_York", utc("2026-03-06T09:13:00Z"), utc("2026-03-11T17:45:00Z")},
		{"Europe/Berlin", utc("2026-10-22T10:00:00Z"), utc("2026-10-28T23:30:00Z")},
		{"Asia/Kolkata", utc("2026-03-05T00:00:00Z"), utc("2026-03-12T00:00:00Z")},
		{"Pacific/Auckland", utc("2026-04-02T00:00:00Z"), utc("2026-04-08T00:00:00Z")},
		{"UTC", utc("2026-03-05T00:00:00Z"), utc("2026-03-07T00:00:00Z")},
		{"America/Los_Angeles", utc("2026-10-27T06:59:00Z"), utc("2026-10-27T07:01:00Z")}, // two minutes over midnight
	}
	ctx := context.Background()
	for _, w := range windows {
		loc, err := time.LoadLocation(w.zone)
		if err != nil {
			t.Fatal(err)
		}
		days := dashboard.LocalDays(w.from, w.to, loc)
		for _, scope := range []store.DashboardScope{{}, {UserID: f.alice.ID}} {
			want := f.want(days, scope.UserID)
			total := 0
			for _, d := range want {
				total += d.Sessions
			}
			if total == 0 && w.zone != "America/Los_Angeles" {
				t.Fatalf("%s: the fixture puts no sessions in the window", w.zone)
			}
			for d, st := range stores {
				got, err := st.DashboardSeries(ctx, scope, dashboard.Edges(days))
				if err != nil {
					t.Fatalf("%s %s: %v", d, w.zone, err)
				}
				if len(got) != len(want) {
					t.Fatalf("%s %s: %d points, want %d", d, w.zone, len(got), len(want))
				}
				for i := range want {
					if got[i] != want[i] {
						t.Errorf("%s %s user=%q %s: %+v, want %+v", d, w.zone, scope.UserID, days[i].Date, got[i], want[i])
					}
				}
				// And the series sums to the window's totals.
				tot, err := st.DashboardTotals(ctx, scope, w.from, w.to)
				if err != nil {
					t.Fatal(err)
				}
				var sum store.DashboardTotals
				for _, b := range got {
					sum.Sessions += b.Sessions
					sum.ActiveSessions += b.ActiveSessions
					sum.DurationSeconds += b.DurationSeconds
					sum.Messages += b.Messages
					sum.ToolCalls += b.ToolCalls
				}
				sum.UniqueRepos = tot.UniqueRepos
				if sum != tot {
					t.Errorf("%s %s: totals %+v, the series sums to %+v", d, w.zone, tot, sum)
				}
			}
		}
	}
}

func TestStatsOnBothDatabases(t *testing.T) {
	f := newFixture()
	results := map[store.Dialect][]byte{}
	for _, d := range storetest.Dialects {
		st := storetest.Open(t, d)
		f.load(t, st)
		now := time.Date(2026, 3, 11, 18, 0, 0, 0, time.UTC)
		svc := dashboard.New(st, func() time.Time { return now })
		stats, err := svc.Stats(context.Background(), f.alice, dashboard.Query{Period: 5, Unit: "days", TZ: "America/New_York"})
		if err != nil {
			t.Fatal(err)
		}
		// Five calendar days in New York, today included, one point each.
		var dates []string
		for _, a := range stats.Activity {
			dates = append(dates, a.Date)
		}
		if fmt.Sprint(dates) != "[2026-03-07 2026-03-08 2026-03-09 2026-03-10 2026-03-11]" || stats.Period != 120 || stats.Timezone != "America/New_York" {
			t.Fatalf("%s: series %v, period %d, zone %s", d, dates, stats.Period, stats.Timezone)
		}
		sum := 0
		for _, a := range stats.Activity {
			sum += a.Sessions
		}
		if sum != stats.Hero.TotalSessions || stats.Hero.TotalSessions == 0 || stats.UserHero.TotalSessions >= stats.Hero.TotalSessions {
			t.Fatalf("%s: series sums to %d, hero %+v, userHero %+v", d, sum, stats.Hero, stats.UserHero)
		}
		h := stats.Hero
		if h.EstimatedLinesChanged != h.TotalToolCalls*15 || h.TotalToolCalls == 0 ||
			h.AvgSessionDurationSeconds != h.TotalSessionDurationSeconds/int64(h.TotalSessions) {
			t.Fatalf("%s: derived figures %+v", d, h)
		}
		if len(stats.TopRepos) != dashboard.TopReposLimit || len(stats.RecentSessions) != dashboard.RecentLimit {
			t.Fatalf("%s: %d repos, %d recent", d, len(stats.TopRepos), len(stats.RecentSessions))
		}
		for _, r := range stats.RecentSessions {
			if r.MessageCount != 2 {
				t.Fatalf("%s: recent session counts %d messages, want 2 (system messages do not count)", d, r.MessageCount)
			}
		}
		for _, a := range stats.ActiveSessions {
			if a.Status != store.StatusRunning {
				t.Fatalf("%s: active session in status %s", d, a.Status)
			}
		}
		results[d], _ = json.Marshal(stats)
	}
	if string(results[store.SQLite]) != string(results[store.Postgres]) {
		t.Fatalf("the databases disagree:\nsqlite:   %s\npostgres: %s", results[store.SQLite], results[store.Postgres])
	}
}

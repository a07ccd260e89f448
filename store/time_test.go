package store_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// TestTimestampsRoundTrip: a time from store.Now() reads back as the same
// instant, in UTC (REST renders it with "Z"), on both dialects; so does a
// time the caller built in another zone.
func TestTimestampsRoundTrip(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := store.Now()
		if now.Location() != time.UTC || now.Nanosecond()%1000 != 0 {
			t.Fatalf("store.Now() = %v: want UTC, whole microseconds", now)
		}
		u := mkUser(t, s, "now@example.com", store.RoleMember, now)
		// A caller's time in another zone is stored as the same instant.
		u.UpdatedAt = now.Add(90*time.Minute + 7*time.Microsecond).In(time.FixedZone("UTC+5:30", 5*3600+1800))
		noErr(t, "update", s.Users().Update(ctx, u))

		got, err := s.Users().Get(ctx, u.ID)
		noErr(t, "get", err)
		sameTime(t, "created_at", got.CreatedAt, now)
		sameTime(t, "updated_at", got.UpdatedAt, u.UpdatedAt)
		for name, tm := range map[string]time.Time{"created_at": got.CreatedAt, "updated_at": got.UpdatedAt} {
			if tm.Location() != time.UTC {
				t.Errorf("%s read back in location %q (%s), want UTC", name, tm.Location(), tm.Format(time.RFC3339Nano))
			}
		}

		// Comparisons in queries see the same instant.
		mkSession(t, s, u.ID, "h", now)
		_, err = s.AuthSessions().GetValid(ctx, "h", now.Add(-time.Microsecond))
		noErr(t, "session valid one microsecond before expiry", err)
		_, err = s.AuthSessions().GetValid(ctx, "h", now)
		wantErr(t, "session at its expiry instant", err, store.ErrNotFound)
	})
}

// TestTimestampsUTCUnderLocalZone reads timestamps in a child process whose
// local zone is not UTC: they must still come back in UTC, so that
// rendering them gives "Z" rather than the server's offset.
func TestTimestampsUTCUnderLocalZone(t *testing.T) {
	if url := os.Getenv("AGENTOPS_TZ_CHILD_URL"); url != "" {
		tzChild(t, url, os.Getenv("AGENTOPS_TZ_CHILD_USER"))
		return
	}
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			url := storetest.URL(t, d)
			s, err := store.Open(ctx, url, store.Options{MaxConns: 2})
			noErr(t, "open", err)
			_, err = s.Migrate(ctx)
			noErr(t, "migrate", err)
			u := mkUser(t, s, "tz@example.com", store.RoleMember, at(0))
			s.Close()

			cmd := exec.Command(os.Args[0], "-test.run=^TestTimestampsUTCUnderLocalZone$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), "TZ=Asia/Kolkata", "AGENTOPS_TZ_CHILD_URL="+url, "AGENTOPS_TZ_CHILD_USER="+u.ID)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("with TZ=Asia/Kolkata: %v\n%s", err, out)
			}
		})
	}
}

func tzChild(t *testing.T, url, userID string) {
	ctx := context.Background()
	if _, off := time.Now().Zone(); off == 0 {
		t.Fatal("child process: local zone is UTC, TZ was not applied")
	}
	s, err := store.Open(ctx, url, store.Options{MaxConns: 2})
	noErr(t, "open", err)
	defer s.Close()
	u, err := s.Users().Get(ctx, userID)
	noErr(t, "get", err)
	sameTime(t, "created_at", u.CreatedAt, base)
	if got := u.CreatedAt.Format(time.RFC3339Nano); !strings.HasSuffix(got, "Z") {
		t.Errorf("%s: created_at renders as %s (location %q), want UTC with Z", s.Dialect(), got, u.CreatedAt.Location())
	}
}

var sqliteTimeText = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)

// TestSQLiteTimeTextFixedWidth: on SQLite, timestamps are text in
// store.TimeLayout, always with six fractional digits, so that ORDER BY and
// comparisons on the text are time order.
func TestSQLiteTimeTextFixedWidth(t *testing.T) {
	ctx := context.Background()
	s := storetest.Open(t, store.SQLite)
	// Same second, fractions that sort wrongly as text once trailing
	// zeros are trimmed (".1Z" > ".123456Z", "05Z" > "05.000001Z").
	offsets := []time.Duration{
		123456 * time.Microsecond,
		0,
		100 * time.Millisecond,
		time.Microsecond,
		999999 * time.Microsecond,
		time.Second,
		120 * time.Millisecond,
	}
	for i, d := range offsets {
		mkUser(t, s, fmt.Sprintf("u%d@example.com", i), store.RoleMember, at(d))
	}

	rows, err := s.DB().QueryContext(ctx, "SELECT CAST(created_at AS TEXT) FROM users ORDER BY created_at")
	noErr(t, "select", err)
	defer rows.Close()
	var prev time.Time
	n := 0
	for rows.Next() {
		var raw string
		noErr(t, "scan", rows.Scan(&raw))
		if len(raw) != len(store.TimeLayout) || !sqliteTimeText.MatchString(raw) {
			t.Errorf("created_at stored as %q, want layout %s", raw, store.TimeLayout)
			continue
		}
		tm, err := time.Parse(store.TimeLayout, raw)
		noErr(t, "parse", err)
		if n > 0 && !tm.After(prev) {
			t.Errorf("ORDER BY created_at gives %s after %s", tm.Format(store.TimeLayout), prev.Format(store.TimeLayout))
		}
		prev = tm
		n++
	}
	noErr(t, "rows", rows.Err())
	if n != len(offsets) {
		t.Fatalf("read %d rows, want %d", n, len(offsets))
	}

	// Query arguments use the same layout: a range query on the text
	// matches exactly the rows in the time range.
	if got := countRows(t, s, "users", "created_at > ? AND created_at < ?", at(0), at(120*time.Millisecond)); got != 2 {
		t.Errorf("users created strictly between .000000 and .120000: %d, want 2 (.000001, .100000)", got)
	}

	// Timestamps written by other repositories and by Touch are fixed width too.
	u, err := s.Users().List(ctx, store.UserCursor{}, 1)
	noErr(t, "list", err)
	a := mkSession(t, s, u[0].ID, "h", at(time.Hour))
	noErr(t, "touch", s.AuthSessions().Touch(ctx, a.ID, at(2*time.Second)))
	var raws []string
	noErr(t, "select session times", s.DB().NewRaw(
		"SELECT CAST(expires_at AS TEXT) FROM auth_sessions UNION ALL SELECT CAST(last_used_at AS TEXT) FROM auth_sessions").Scan(ctx, &raws))
	for _, raw := range raws {
		if !sqliteTimeText.MatchString(raw) {
			t.Errorf("auth_sessions time stored as %q, want layout %s", raw, store.TimeLayout)
		}
	}
}

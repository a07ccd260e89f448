package app_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/store"
)

// TestMaintenanceArchivesEndedSessionsAndPrunes runs the server on a fake
// clock and moves it forward: a session terminated longer ago than
// --archive-after is archived and its workspace removed (its transcript
// stays), a live session is untouched, and an invite that expired is
// deleted while a valid one stays.
func TestMaintenanceArchivesEndedSessionsAndPrunes(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		clock := clockwork.NewFakeClockAt(time.Now())
		s := startServer(t, d, "local", func(c *app.Config) {
			c.Clock = clock
			c.ArchiveAfter = 2 * time.Hour
		})
		ended := s.createSession(nil).Session.ID
		live := s.createSession(nil).Session.ID
		s.waitStatus(ended, func(st map[string]any) bool { return st["runnerReady"] == true })
		s.mustJSON("POST", "/api/sessions/"+ended+"/prompt", s.token, map[string]any{"content": "hello"}, 200, nil)
		s.waitTranscript(ended, func(m []message) bool { return len(m) == 2 && len(partsOfType(m[1], "finish")) == 1 })
		s.mustJSON("DELETE", "/api/sessions/"+ended, s.token, nil, 200, nil)
		workspace := filepath.Join(s.cfg.DataDir, "workspaces", ended)
		if _, err := os.Stat(workspace); err != nil {
			t.Fatalf("the terminated session's workspace is gone before archiving: %v", err)
		}
		var inv struct{ ID, Code string }
		s.mustJSON("POST", "/api/admin/invites", s.token, map[string]any{"email": "soon@example.com"}, 201, &inv)

		// Within --archive-after nothing is archived.
		clock.Advance(time.Hour)
		time.Sleep(300 * time.Millisecond)
		if st := s.sessionStatus(ended); st != store.StatusTerminated {
			t.Fatalf("status after an hour: %s", st)
		}
		eventually.NoError(t, 20*time.Second, "the ended session to be archived", func() error {
			if st := s.sessionStatus(ended); st != store.StatusArchived {
				clock.Advance(10 * time.Minute)
				return fmt.Errorf("not archived; status %s", st)
			}
			return nil
		})
		if _, err := os.Stat(workspace); !os.IsNotExist(err) {
			t.Fatalf("the archived session's workspace is still there: %v", err)
		}
		if msgs := s.messages(ended); len(msgs) != 2 {
			t.Fatalf("the archived session's transcript: %d messages", len(msgs))
		}
		if st := s.sessionStatus(live); st != store.StatusRunning {
			t.Fatalf("the live session is %s", st)
		}
		if _, err := os.Stat(filepath.Join(s.cfg.DataDir, "workspaces", live)); err != nil {
			t.Fatalf("the live session's workspace: %v", err)
		}

		// The invite expires after seven days; the hourly prune removes it.
		eventually.NoError(t, 20*time.Second, "the expired invite to be pruned", func() error {
			if code, _ := s.call("GET", "/invites/"+inv.Code, "", nil); code != http.StatusNotFound {
				clock.Advance(6 * time.Hour)
				return fmt.Errorf("the expired invite was not pruned (lookup %d)", code)
			}
			return nil
		})
	})
}

// sessionStatus is the session's status as GET /api/sessions/:id says.
func (s *server) sessionStatus(id string) string {
	var out struct {
		Session struct {
			Status string `json:"status"`
		} `json:"session"`
	}
	s.mustJSON("GET", "/api/sessions/"+id, s.token, nil, 200, &out)
	return out.Session.Status
}

// TestDeletingAUserEndsTheirSessions: an admin deletes a member who has a
// live session; the member's runner is stopped and their workspaces are
// removed, and an admin who tries to delete the last admin changes nothing.
func TestDeletingAUserEndsTheirSessions(t *testing.T) {
	s := startServer(t, store.SQLite, "local")
	member := s.secondUser("member@example.com")
	var me struct {
		User struct{ ID string } `json:"user"`
	}
	s.mustJSON("GET", "/api/auth/me", member, nil, 200, &me)
	var created createdSession
	s.mustJSON("POST", "/api/sessions", member, map[string]any{"workspace": "theirs"}, 201, &created)
	id := created.Session.ID
	as := *s
	as.token = member
	as.waitStatus(id, func(st map[string]any) bool { return st["runnerReady"] == true })
	workspace := filepath.Join(s.cfg.DataDir, "workspaces", id)
	if _, err := os.Stat(workspace); err != nil {
		t.Fatal(err)
	}
	// Deleting oneself (the only admin) is refused and ends nothing.
	var admin struct {
		User struct{ ID string } `json:"user"`
	}
	s.mustJSON("GET", "/api/auth/me", s.token, nil, 200, &admin)
	if code, _ := s.call("DELETE", "/api/admin/users/"+admin.User.ID, s.token, nil); code != 400 {
		t.Fatalf("deleting oneself: %d", code)
	}
	s.mustJSON("DELETE", "/api/admin/users/"+me.User.ID, s.token, nil, 200, nil)
	if _, err := os.Stat(workspace); !os.IsNotExist(err) {
		t.Fatalf("the deleted user's workspace is still there: %v", err)
	}
	if code, _ := s.call("GET", "/api/auth/me", member, nil); code != 401 {
		t.Fatalf("the deleted user's login still works: %d", code)
	}
	// The runner was stopped: nothing runs under the session's id.
	eventually.True(t, 10*time.Second, "the deleted user's runner to stop", func() bool { return !runnerRunning(t, id) })
}

// runnerRunning reports whether a process has the session id on its
// command line (the local sandbox passes --session-id).
func runnerRunning(t *testing.T, sessionID string) bool {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), sessionID) {
			return true
		}
	}
	return false
}

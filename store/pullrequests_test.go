package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// TestPullRequestsAndAdoption: pushes and pull requests recorded on
// sessions' git state, the refresh's list and updates, and the adoption
// figures they make, on both databases.
func TestPullRequestsAndAdoption(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "pr@example.com", store.RoleMember, base)
		mk := func(status string) string {
			sess := mkAgentSession(t, s, u.ID, status, base)
			noErr(t, "create git state", s.GitStates().Create(ctx, &store.SessionGitState{SessionID: sess.ID,
				Branch: "agentops/x", AgentAuthored: true, CreatedAt: base, UpdatedAt: base}))
			return sess.ID
		}
		a, b, old, archived := mk("running"), mk("running"), mk("terminated"), mk("archived")
		if err := s.GitStates().RecordPush(ctx, "no-such-session", 1, base); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("push of a session without git state: %v", err)
		}
		day := 24 * time.Hour
		noErr(t, "push a", s.GitStates().RecordPush(ctx, a, 2, base.Add(day)))
		noErr(t, "push a again", s.GitStates().RecordPush(ctx, a, 1, base.Add(2*day)))
		noErr(t, "push b", s.GitStates().RecordPush(ctx, b, 4, base.Add(2*day)))
		noErr(t, "push old", s.GitStates().RecordPush(ctx, old, 10, base.Add(-40*day)))

		repo := "https://github.com/o/r.git"
		for i, id := range []string{a, b, old, archived} {
			created := base.Add(day)
			if id == old {
				created = base.Add(-40 * day)
			}
			noErr(t, "record pr", s.GitStates().RecordPR(ctx, id, store.PullRequest{Number: 10 + i, Title: "t", State: store.PROpen,
				URL: "https://github.com/o/r/pull/1", RepoURL: repo, CreatedAt: created}, created))
		}
		g, err := s.GitStates().Get(ctx, a)
		noErr(t, "get", err)
		if g.PRNumber != 10 || g.PRState != store.PROpen || g.PRRepoURL != repo || g.PushedCommits != 3 ||
			!g.PushedAt.Equal(base.Add(2*day)) || !g.PRMergedAt.IsZero() {
			t.Fatalf("git state %+v", g)
		}

		open, err := s.GitStates().OpenPRs(ctx, 10)
		noErr(t, "open prs", err)
		if len(open) != 3 || open[0].SessionID != old || open[0].UserID != u.ID || open[0].RepoURL != repo {
			t.Fatalf("open pull requests (the archived session's left out, the least recently checked first): %+v", open)
		}
		noErr(t, "fail", s.GitStates().PRCheckFailed(ctx, b, base.Add(3*day)))
		noErr(t, "fail", s.GitStates().PRCheckFailed(ctx, b, base.Add(3*day)))
		noErr(t, "merge a", s.GitStates().UpdatePR(ctx, a, store.PullRequest{State: store.PRMerged, Title: "t2",
			URL: "https://github.com/o/r/pull/1", MergedAt: base.Add(3 * day)}, base.Add(3*day)))
		open, err = s.GitStates().OpenPRs(ctx, 10)
		noErr(t, "open prs", err)
		if len(open) != 2 || open[1].SessionID != b || open[1].Failures != 2 {
			t.Fatalf("after the merge: %+v", open)
		}

		from := base.Add(-30 * day)
		fig, err := s.GitStates().Adoption(ctx, from)
		noErr(t, "adoption", err)
		// a, b and the archived session's pull requests fall in the window
		// (one merged); the commits of a and b's pushes.
		if fig != (store.Adoption{PRsCreated: 3, PRsMerged: 1, Commits: 7}) {
			t.Fatalf("adoption %+v", fig)
		}
		fig, err = s.GitStates().Adoption(ctx, base.Add(-50*day))
		noErr(t, "adoption", err)
		if fig != (store.Adoption{PRsCreated: 4, PRsMerged: 1, Commits: 17}) {
			t.Fatalf("adoption over 50 days %+v", fig)
		}
	})
}

package repos_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jonboulle/clockwork"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/repos"
	"github.com/agentops/agentops/internal/testutil/fakegithub"
	"github.com/agentops/agentops/internal/testutil/gitserver"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

const token = "ghp_reposTESTtoken123456789"

// tokens gives every user the same token.
type tokens struct{ tok string }

func (t *tokens) RepoToken(context.Context, string, string) (string, error) { return t.tok, nil }

// noSessions: these tests make pull requests without sessions.
type noSessions struct{}

func (noSessions) GitState(context.Context, string, string) (*store.SessionGitState, error) {
	return nil, errors.New("no sessions here")
}
func (noSessions) Push(context.Context, string, string) (protocol.GitPush, error) {
	return protocol.GitPush{}, errors.New("no sessions here")
}
func (noSessions) NotifyPullRequest(string, any) {}

func code(err error) string {
	if e, ok := apperr.As(err); ok {
		return e.Code
	}
	return ""
}

// TestRepositoryURLsOnTheAPIsHost: github.com's API takes github.com URLs
// and owner/name; an Enterprise API takes URLs on its own host, mapped by
// their path; anything else is a 400 naming repo.
func TestRepositoryURLsOnTheAPIsHost(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	gh, err := repos.New(s, &tokens{}, noSessions{}, repos.Options{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ghe, err := repos.New(s, &tokens{}, noSessions{}, repos.Options{APIURL: "https://ghe.example.com/api/v3"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		svc  *repos.Service
		repo string
		ok   bool
	}{
		{gh, "https://github.com/acme/app.git", true},
		{gh, "https://github.com/acme/app", true},
		{gh, "acme/app", true},
		{gh, "https://ghe.example.com/acme/app", false},
		{gh, "https://github.com/acme", false},
		{gh, "https://github.com/acme/app/tree/main", false},
		{gh, "git@github.com:acme/app.git", false},
		{gh, "", false},
		{ghe, "https://ghe.example.com/acme/app.git", true},
		{ghe, "https://github.com/acme/app.git", false},
	} {
		// No token: a valid repository gets as far as asking for one.
		_, err := tc.svc.CreatePR(ctx, "u", tc.repo, repos.PRInput{Title: "t", Branch: "b", Base: "main"})
		e, _ := apperr.As(err)
		switch {
		case tc.ok && code(err) != "GITHUB_TOKEN_MISSING":
			t.Errorf("%s is refused: %v", tc.repo, err)
		case !tc.ok && (e == nil || e.Kind != apperr.KindInvalid || e.Details["field"] != "repo"):
			t.Errorf("%s is not a 400 on repo: %v", tc.repo, err)
		}
	}
	if _, err := repos.New(s, &tokens{}, noSessions{}, repos.Options{APIURL: "ftp://x"}, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("an ftp API URL is accepted")
	}
}

// TestRefreshBacksOffAndPausesOnRateLimits: the refresh reads due pull
// requests only, stores merges, backs a failing one off (doubling), and
// stops for GitHub's rate limit without counting it as a failure; on both
// databases.
func TestRefreshBacksOffAndPausesOnRateLimits(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		gs := gitserver.Start(t, "")
		gs.NewRepo(t, "acme/app", map[string]string{"a": "a\n"})
		work := t.TempDir()
		gitserver.Git(t, work, "clone", "--quiet", gs.URL+"/acme/app.git", ".")
		gitserver.Git(t, work, "checkout", "--quiet", "-b", "feature")
		gitserver.Git(t, work, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "--allow-empty", "-m", "f")
		gitserver.Git(t, work, "push", "--quiet", "origin", "feature")
		gh := fakegithub.Start(t, gs.Root, gs.URL, token, "")
		clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
		svc, err := repos.New(s, &tokens{tok: token}, noSessions{}, repos.Options{APIURL: gh.APIURL, RefreshInterval: time.Minute,
			Now: clock.Now}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		pr, err := svc.CreatePR(ctx, "u", gs.URL+"/acme/app", repos.PRInput{Title: "F", Branch: "feature"})
		if err != nil || pr.Number != 1 || pr.State != "open" {
			t.Fatalf("create: %+v %v", pr, err)
		}

		u := &store.User{ID: uuid.NewString(), Email: "r@example.com", Role: store.RoleMember, IdleTimeoutSeconds: 900,
			UIQueueMode: "followup", IdentityProvider: "email", CreatedAt: clock.Now(), UpdatedAt: clock.Now()}
		if err := s.Users().Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		mk := func(number int) string {
			sess := &store.Session{ID: uuid.NewString(), UserID: u.ID, Workspace: "w", Status: "running", Purpose: "interactive",
				Agent: "script", LastActiveAt: clock.Now(), CreatedAt: clock.Now(), UpdatedAt: clock.Now()}
			if err := s.Sessions().Create(ctx, sess); err != nil {
				t.Fatal(err)
			}
			if err := s.GitStates().Create(ctx, &store.SessionGitState{SessionID: sess.ID, AgentAuthored: true,
				CreatedAt: clock.Now(), UpdatedAt: clock.Now()}); err != nil {
				t.Fatal(err)
			}
			if err := s.GitStates().RecordPR(ctx, sess.ID, store.PullRequest{Number: number, Title: "F", State: store.PROpen,
				URL: "u", RepoURL: gs.URL + "/acme/app", CreatedAt: clock.Now()}, clock.Now()); err != nil {
				t.Fatal(err)
			}
			return sess.ID
		}
		good, missing := mk(1), mk(99)
		gets := func() int { return gh.Requests("GET /api/v3/repos/acme/app/pulls/") }
		failures := func(id string) int {
			g, err := s.GitStates().Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return g.PRCheckFailures
		}

		// Checked when recorded: not due yet.
		if err := svc.Refresh(ctx); err != nil || gets() != 0 {
			t.Fatalf("a refresh before the interval read %d pull requests (%v)", gets(), err)
		}
		clock.Advance(time.Minute)
		_ = svc.Refresh(ctx)
		if gets() != 2 || failures(missing) != 1 || failures(good) != 0 {
			t.Fatalf("first round: %d reads, failures %d/%d", gets(), failures(good), failures(missing))
		}
		// The missing one waits two intervals now.
		clock.Advance(time.Minute)
		_ = svc.Refresh(ctx)
		if gets() != 3 {
			t.Fatalf("second round: %d reads, want the good one only", gets())
		}
		gh.Merge("acme", "app", 1)
		clock.Advance(time.Minute)
		_ = svc.Refresh(ctx)
		if gets() != 5 || failures(missing) != 2 {
			t.Fatalf("third round: %d reads, failures %d", gets(), failures(missing))
		}
		if g, _ := s.GitStates().Get(ctx, good); g.PRState != store.PRMerged || g.PRMergedAt.IsZero() {
			t.Fatalf("the merge was not stored: %+v", g)
		}

		// Rate limited: the run stops, nothing counts as a failure, and
		// the next runs wait for GitHub's reset.
		gh.SetRateLimited(true)
		clock.Advance(10 * time.Minute)
		before := gh.Requests("GET")
		_ = svc.Refresh(ctx)
		if failures(missing) != 2 || gh.Requests("GET") != before+1 {
			t.Fatalf("rate limited: %d requests, failures %d", gh.Requests("GET")-before, failures(missing))
		}
		clock.Advance(time.Minute)
		_ = svc.Refresh(ctx)
		if gh.Requests("GET") != before+1 {
			t.Fatal("a refresh during the rate limit's pause asked GitHub")
		}
		gh.SetRateLimited(false)
		clock.Advance(2 * time.Minute)
		_ = svc.Refresh(ctx)
		if gh.Requests("GET") != before+2 {
			t.Fatalf("after the pause: %d requests", gh.Requests("GET")-before)
		}
	})
}

// TestRepositoryListsAndRefusals: pagination, validate's 200
// {valid:false}, nothing to merge, a token GitHub refuses, the rate limit.
func TestRepositoryListsAndRefusals(t *testing.T) {
	ctx := context.Background()
	gs := gitserver.Start(t, "")
	for _, n := range []string{"acme/a", "acme/b", "acme/c"} {
		gs.NewRepo(t, n, map[string]string{"x": "x\n"})
	}
	gh := fakegithub.Start(t, gs.Root, gs.URL, token, "")
	tok := &tokens{tok: token}
	svc, err := repos.New(storetest.Open(t, store.SQLite), tok, noSessions{}, repos.Options{APIURL: gh.APIURL}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	list, more, err := svc.ListRepos(ctx, "u", repos.Page{Page: 1, PerPage: 2}, "")
	if err != nil || len(list) != 2 || !more || list[0].FullName != "acme/a" {
		t.Fatalf("page 1: %+v %v %v", list, more, err)
	}
	list, more, err = svc.ListRepos(ctx, "u", repos.Page{Page: 2, PerPage: 2}, "")
	if err != nil || len(list) != 1 || more || list[0].FullName != "acme/c" {
		t.Fatalf("page 2: %+v %v %v", list, more, err)
	}
	if _, _, err := svc.ListRepos(ctx, "u", repos.Page{}, "stars"); code(err) != "" || err == nil {
		t.Fatalf("a bad sort: %v", err)
	}
	if info, why, err := svc.Validate(ctx, "u", gs.URL+"/acme/a.git"); err != nil || info == nil || why != "" || info.DefaultBranch != "main" {
		t.Fatalf("validate: %+v %q %v", info, why, err)
	}
	for _, bad := range []string{gs.URL + "/acme/none", "https://elsewhere.example.com/acme/a", "not a url"} {
		if info, why, err := svc.Validate(ctx, "u", bad); err != nil || info != nil || why == "" {
			t.Fatalf("validate %s: %+v %q %v", bad, info, why, err)
		}
	}
	_, err = svc.CreatePR(ctx, "u", "acme/a", repos.PRInput{Title: "t", Branch: "main"})
	if code(err) != "NOTHING_TO_MERGE" {
		t.Fatalf("nothing to merge: %v", err)
	}
	tok.tok = "ghp_wrong"
	if _, _, err := svc.ListPulls(ctx, "u", "acme", "a", "", repos.Page{}); code(err) != "GITHUB_TOKEN_INVALID" || strings.Contains(err.Error(), "ghp_wrong") {
		t.Fatalf("a wrong token: %v", err)
	}
	tok.tok = ""
	if _, _, err := svc.ListPulls(ctx, "u", "acme", "a", "", repos.Page{}); code(err) != "GITHUB_TOKEN_MISSING" {
		t.Fatalf("no token: %v", err)
	}
	tok.tok = token
	gh.SetRateLimited(true)
	_, _, err = svc.ListRepos(ctx, "u", repos.Page{}, "")
	e, ok := apperr.As(err)
	if !ok || e.Kind != apperr.KindUnavailable || e.Extra["retryAfterSeconds"].(int) < 1 {
		t.Fatalf("rate limited: %v", err)
	}
}

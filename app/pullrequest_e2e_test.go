package app_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/internal/testutil/fakegithub"
	"github.com/agentops/agentops/internal/testutil/gitserver"
	"github.com/agentops/agentops/store"
)

type prView struct {
	Number int    `json:"number"`
	URL    string `json:"url"`
	Title  string `json:"title"`
	State  string `json:"state"`
}

type adoptionView struct {
	TotalPRsCreated int `json:"totalPRsCreated"`
	TotalPRsMerged  int `json:"totalPRsMerged"`
	MergeRate       int `json:"mergeRate"`
	TotalCommits    int `json:"totalCommits"`
}

// wantError checks a JSON error answer's status and code and returns its
// body.
func (s *server) wantError(method, path string, body any, status int, code string) map[string]any {
	s.t.Helper()
	got, b := s.call(method, path, s.token, body)
	var e map[string]any
	_ = json.Unmarshal(b, &e)
	if got != status || e["code"] != code {
		s.t.Fatalf("%s %s: %d %s, want %d %s", method, path, got, b, status, code)
	}
	return e
}

// TestCommitPushAndPullRequestFromASession: a session on a repository served
// over smart HTTP commits and pushes its branch with the owner's token, opens
// a pull request on a fake GitHub API, the browsers hear of it, the refresh
// job picks up its merge and the adoption figures move; every refusal along
// the way is a clear 4xx (or GitHub's rate limit a 503) that names the
// problem and shows no token. On both databases.
func TestCommitPushAndPullRequestFromASession(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		const readOnly = "ghp_readONLYtoken000000000000"
		gs := gitserver.Start(t, ghToken)
		url := gs.NewRepo(t, "acme/app", map[string]string{"README.md": "hello\n"})
		gh := fakegithub.Start(t, gs.Root, gs.URL, ghToken, readOnly)
		s := startServer(t, d, "local", func(c *app.Config) {
			c.GitHubAPIURL = gh.APIURL
			c.PRRefreshInterval = time.Second
		})
		s.mustJSON("PATCH", "/api/auth/me", s.token, map[string]any{"gitName": "Ada Lovelace", "gitEmail": "ada@example.com"}, 200, nil)
		s.mustJSON("PUT", "/api/auth/me/credentials/github", s.token, map[string]any{"key": ghToken}, 200, nil)

		// The repositories the token sees, one checked, and its pulls.
		var list struct {
			Repos []struct {
				FullName string `json:"fullName"`
			} `json:"repos"`
			HasMore bool `json:"hasMore"`
		}
		s.mustJSON("GET", "/api/repos?per_page=10&sort=updated", s.token, nil, 200, &list)
		if len(list.Repos) != 1 || list.Repos[0].FullName != "acme/app" || list.HasMore {
			t.Fatalf("repos %+v", list)
		}
		var valid map[string]any
		s.mustJSON("GET", "/api/repos/validate?url="+url, s.token, nil, 200, &valid)
		if valid["valid"] != true {
			t.Fatalf("validate %v", valid)
		}
		s.mustJSON("GET", "/api/repos/validate?url="+gs.URL+"/acme/missing.git", s.token, nil, 200, &valid)
		if valid["valid"] != false || !strings.Contains(valid["error"].(string), "does not show") {
			t.Fatalf("validate a missing repository %v", valid)
		}
		s.wantError("GET", "/api/repos/validate", nil, 400, "VALIDATION_ERROR")

		c := s.createSession(map[string]any{"repoUrl": url})
		id := c.Session.ID
		branch := "agentops/" + id[:8]
		s.waitGitReady(id)
		commit := "/api/sessions/" + id + "/commit"
		push := "/api/sessions/" + id + "/push"
		prPath := "/api/repos/pull-request?repo=" + url

		s.wantError("POST", commit, map[string]any{}, 400, "VALIDATION_ERROR")
		eventually.True(t, 30*time.Second, "the runner to be ready", func() bool {
			_, b := s.call("POST", commit, s.token, map[string]any{"message": "x"})
			return !strings.Contains(string(b), "RUNNER_NOT_READY")
		})
		s.wantError("POST", commit, map[string]any{"message": "x"}, 409, "NOTHING_TO_COMMIT")

		// While a turn runs, neither commits nor pushes.
		s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "/sleep 3000\n/write a.txt a\\n\nslow"}, 200, nil)
		s.wantError("POST", commit, map[string]any{"message": "x"}, 409, "TURN_RUNNING")
		s.wantError("POST", push, nil, 409, "TURN_RUNNING")
		eventually.True(t, 30*time.Second, "the turn to end", func() bool {
			m := s.messages(id)
			return len(m) >= 2 && len(partsOfType(m[len(m)-1], "finish")) == 1
		})

		// The branch pushed with no commits of its own: a pull request
		// has nothing to merge, and nothing is recorded.
		s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": "/delete a.txt\ntidy"}, 200, nil)
		eventually.True(t, 30*time.Second, "the turn to end", func() bool {
			m := s.messages(id)
			return len(m) >= 4 && len(partsOfType(m[len(m)-1], "finish")) == 1
		})
		var pushed map[string]string
		s.mustJSON("POST", push, s.token, nil, 200, &pushed)
		if pushed["branch"] != branch || pushed["remote"] != url || len(pushed) != 2 {
			t.Fatalf("push %v", pushed)
		}
		e := s.wantError("POST", prPath, map[string]any{"title": "Nothing", "sessionId": id}, 400, "NOTHING_TO_MERGE")
		if !strings.Contains(e["error"].(string), "Nothing to merge") {
			t.Fatalf("nothing to merge: %v", e)
		}
		if g := s.gitState(id); g == nil {
			t.Fatal("no git state")
		}

		// The agent's work, committed as the owner and pushed.
		s.promptAndWait(id, "/write src/feature.go package src\\n\nwrite the feature")
		var committed struct {
			Commit struct{ SHA, Message string } `json:"commit"`
		}
		s.mustJSON("POST", commit, s.token, map[string]any{"message": "Add the feature\n\nWritten by the agent."}, 200, &committed)
		if len(committed.Commit.SHA) != 40 || committed.Commit.Message != "Add the feature\n\nWritten by the agent." {
			t.Fatalf("commit %+v", committed)
		}
		ws := s.cfg.DataDir + "/workspaces/" + id
		if got := gitserver.Git(t, ws, "log", "-1", "--format=%an <%ae>"); got != "Ada Lovelace <ada@example.com>" {
			t.Fatalf("the commit's author is %q", got)
		}

		// A token the remote refuses: 403 naming the problem, no token shown.
		s.mustJSON("PUT", "/api/auth/me/credentials/github", s.token, map[string]any{"key": readOnly}, 200, nil)
		e = s.wantError("POST", push, nil, 403, "GITHUB_TOKEN_NO_ACCESS")
		if msg := e["error"].(string); !strings.Contains(msg, "cannot push") || strings.Contains(msg, readOnly) {
			t.Fatalf("push with a token without access: %s", msg)
		}
		// GitHub refuses the pull request for that token.
		e = s.wantError("POST", prPath, map[string]any{"title": "x", "branch": branch, "base": "main"}, 403, "GITHUB_TOKEN_NO_ACCESS")
		if strings.Contains(e["error"].(string), readOnly) {
			t.Fatalf("the error shows the token: %v", e)
		}
		s.mustJSON("PUT", "/api/auth/me/credentials/github", s.token, map[string]any{"key": ghToken}, 200, nil)

		// GitHub's rate limit: 503 with retryAfterSeconds and Retry-After.
		gh.SetRateLimited(true)
		e = s.wantError("POST", prPath, map[string]any{"title": "x", "branch": branch, "base": "main"}, 503, "GITHUB_RATE_LIMITED")
		if secs, _ := e["retryAfterSeconds"].(float64); secs < 1 || secs > 121 {
			t.Fatalf("rate limit answer %v", e)
		}
		gh.SetRateLimited(false)

		// Bad input.
		s.wantError("POST", "/api/repos/pull-request", map[string]any{"title": "x", "branch": branch}, 400, "VALIDATION_ERROR")
		s.wantError("POST", prPath, map[string]any{"branch": branch}, 400, "VALIDATION_ERROR")
		s.wantError("POST", "/api/repos/pull-request?repo=https://elsewhere.example.com/a/b", map[string]any{"title": "x", "branch": branch}, 400, "VALIDATION_ERROR")
		s.wantError("POST", prPath, map[string]any{"title": "x", "sessionId": id, "branch": "other"}, 400, "VALIDATION_ERROR")

		// The pull request, with the session: pushed first, recorded,
		// and the browsers told.
		b := s.dial(id, s.token)
		var created struct{ PR prView }
		s.mustJSON("POST", prPath, s.token, map[string]any{"title": "Add the feature", "body": "From agentops", "sessionId": id}, 200, &created)
		if created.PR.Number != 1 || created.PR.State != "open" || created.PR.Title != "Add the feature" ||
			created.PR.URL != gs.URL+"/acme/app/pull/1" {
			t.Fatalf("pull request %+v", created.PR)
		}
		f := b.waitFor("pr-created", func(f map[string]any) bool { return f["type"] == "pr-created" })
		if pr, _ := f["pr"].(map[string]any); pr["number"] != float64(1) || pr["url"] != created.PR.URL || pr["state"] != "open" {
			t.Fatalf("pr-created %v", f)
		}
		if got := gitserver.Git(t, gs.Root+"/acme/app.git", "rev-parse", "refs/heads/"+branch); got != committed.Commit.SHA {
			t.Fatalf("the remote branch is at %s, not the commit %s", got, committed.Commit.SHA)
		}
		var gsv struct {
			GitState struct {
				PRNumber *int    `json:"prNumber"`
				PRState  *string `json:"prState"`
				PRURL    *string `json:"prUrl"`
				PRMerged *string `json:"prMergedAt"`
			} `json:"gitState"`
		}
		s.mustJSON("GET", "/api/sessions/"+id+"/git-state", s.token, nil, 200, &gsv)
		if gsv.GitState.PRNumber == nil || *gsv.GitState.PRNumber != 1 || *gsv.GitState.PRState != "open" || *gsv.GitState.PRURL != created.PR.URL {
			t.Fatalf("git state after the pull request %+v", gsv.GitState)
		}
		var pulls struct {
			Pulls []struct {
				Number int    `json:"number"`
				Branch string `json:"branch"`
			} `json:"pulls"`
		}
		s.mustJSON("GET", "/api/repos/acme/app/pulls", s.token, nil, 200, &pulls)
		if len(pulls.Pulls) != 1 || pulls.Pulls[0].Branch != branch {
			t.Fatalf("pulls %+v", pulls)
		}

		var adoption adoptionView
		s.mustJSON("GET", "/api/dashboard/adoption?period=30", s.token, nil, 200, &adoption)
		if adoption != (adoptionView{TotalPRsCreated: 1, TotalPRsMerged: 0, MergeRate: 0, TotalCommits: 1}) {
			t.Fatalf("adoption after the pull request %+v", adoption)
		}

		// Merged on GitHub: the refresh job notices, the figures move.
		gh.Merge("acme", "app", 1)
		eventually.True(t, 30*time.Second, "the refresh to see the merge", func() bool {
			s.mustJSON("GET", "/api/sessions/"+id+"/git-state", s.token, nil, 200, &gsv)
			return *gsv.GitState.PRState == "merged" && gsv.GitState.PRMerged != nil
		})
		s.mustJSON("GET", "/api/dashboard/adoption", s.token, nil, 200, &adoption)
		if adoption != (adoptionView{TotalPRsCreated: 1, TotalPRsMerged: 1, MergeRate: 100, TotalCommits: 1}) {
			t.Fatalf("adoption after the merge %+v", adoption)
		}
		s.wantError("GET", "/api/dashboard/adoption?period=0", nil, 400, "VALIDATION_ERROR")

		// A push the remote refuses: its words, no token.
		s.promptAndWait(id, "/write src/more.go package src\\n\nmore")
		s.mustJSON("POST", commit, s.token, map[string]any{"message": "More"}, 200, nil)
		gs.RejectPushes(t, "acme/app", "GH006: Protected branch update failed for refs/heads/"+branch)
		e = s.wantError("POST", push, nil, 409, "PUSH_REJECTED")
		if msg := e["error"].(string); !strings.Contains(msg, "GH006: Protected branch update failed") || strings.Contains(msg, ghToken) {
			t.Fatalf("a refused push: %s", msg)
		}

		// Hibernated: no runner to do it.
		s.mustJSON("POST", "/api/sessions/"+id+"/hibernate", s.token, nil, 200, nil)
		eventually.True(t, 30*time.Second, "the session to hibernate", func() bool { return s.sessionStatus(id) == "hibernated" })
		s.wantError("POST", commit, map[string]any{"message": "x"}, 409, "SESSION_HIBERNATED")
		s.wantError("POST", push, nil, 409, "SESSION_HIBERNATED")
		noSecretUnder(t, s.cfg.DataDir, ghToken)
	})
}

// TestCommitAndPushThroughAnExternalRunner: the commit and the push run in
// the session's runner wherever it is: here one the test starts itself
// (--sandbox external), in a workspace the server cannot see.
func TestCommitAndPushThroughAnExternalRunner(t *testing.T) {
	gs := gitserver.Start(t, ghToken)
	url := gs.NewRepo(t, "acme/ext", map[string]string{"README.md": "hello\n"})
	s := startServer(t, store.SQLite, "external")
	s.mustJSON("PUT", "/api/auth/me/credentials/github", s.token, map[string]any{"key": ghToken}, 200, nil)
	c := s.createSession(map[string]any{"repoUrl": url})
	m := tokenRE.FindStringSubmatch(c.Runner.Command)
	if m == nil {
		t.Fatalf("no token in %q", c.Runner.Command)
	}
	id := c.Session.ID
	startRunner(t, s, id, m[1])
	s.waitGitReady(id)
	s.waitStatus(id, func(st map[string]any) bool { return st["runnerReady"] == true })
	s.promptAndWait(id, "/write notes.md from afar\\n\nwrite")
	var committed struct {
		Commit struct{ SHA string } `json:"commit"`
	}
	s.mustJSON("POST", "/api/sessions/"+id+"/commit", s.token, map[string]any{"message": "Notes"}, 200, &committed)
	var pushed map[string]string
	s.mustJSON("POST", "/api/sessions/"+id+"/push", s.token, nil, 200, &pushed)
	branch := "agentops/" + id[:8]
	if pushed["branch"] != branch || pushed["remote"] != url {
		t.Fatalf("push %v", pushed)
	}
	if got := gitserver.Git(t, gs.Root+"/acme/ext.git", "rev-parse", "refs/heads/"+branch); got != committed.Commit.SHA {
		t.Fatalf("the remote branch is at %s, not %s", got, committed.Commit.SHA)
	}
}

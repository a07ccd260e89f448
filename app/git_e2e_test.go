package app_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/internal/testutil/eventually"
	"github.com/agentops/agentops/internal/testutil/gitserver"
	"github.com/agentops/agentops/store"
)

type gitStateView struct {
	SourceRepoURL *string `json:"sourceRepoUrl"`
	RepoPath      *string `json:"repoPath"`
	Branch        *string `json:"branch"`
	BaseBranch    *string `json:"baseBranch"`
	BaseCommit    *string `json:"baseCommit"`
	HeadCommit    *string `json:"headCommit"`
	CommitCount   int     `json:"commitCount"`
	DirtyFiles    int     `json:"dirtyFiles"`
	ReportedAt    *string `json:"reportedAt"`
}

type fileView struct {
	ID        string  `json:"id"`
	FilePath  string  `json:"filePath"`
	OldPath   *string `json:"oldPath"`
	Status    string  `json:"status"`
	Additions int     `json:"additions"`
	Deletions int     `json:"deletions"`
	Binary    bool    `json:"binary"`
}

type diffView struct {
	Files []struct {
		Path      string `json:"path"`
		OldPath   string `json:"oldPath"`
		Status    string `json:"status"`
		Binary    bool   `json:"binary"`
		Diff      string `json:"diff"`
		Truncated bool   `json:"truncated"`
	} `json:"files"`
	Truncated bool `json:"truncated"`
}

func (s *server) gitState(id string) *gitStateView {
	s.t.Helper()
	var out struct{ GitState *gitStateView }
	s.mustJSON("GET", "/api/sessions/"+id+"/git-state", s.token, nil, 200, &out)
	return out.GitState
}

func (s *server) filesChanged(id string) map[string]fileView {
	s.t.Helper()
	var out struct{ Files []fileView }
	s.mustJSON("GET", "/api/sessions/"+id+"/files-changed", s.token, nil, 200, &out)
	m := map[string]fileView{}
	for _, f := range out.Files {
		m[f.FilePath] = f
	}
	return m
}

// waitGitReady waits until the runner reported the workspace's git state.
func (s *server) waitGitReady(id string) *gitStateView {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		g := s.gitState(id)
		if g != nil && g.ReportedAt != nil {
			return g
		}
		var got struct {
			Session struct{ Status, ErrorMessage string }
		}
		s.mustJSON("GET", "/api/sessions/"+id, s.token, nil, 200, &got)
		if got.Session.Status == "error" || time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.cfg.DataDir, "runner-logs", id+".log"))
			s.t.Fatalf("session %s: no git state (status %s %s); runner log:\n%s", id, got.Session.Status, got.Session.ErrorMessage, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// prompt sends a prompt over REST and waits for its turn to end.
func (s *server) promptAndWait(id, content string) {
	s.t.Helper()
	before := len(s.messages(id))
	s.mustJSON("POST", "/api/sessions/"+id+"/prompt", s.token, map[string]any{"content": content}, 200, nil)
	s.waitTranscript(id, func(m []message) bool {
		return len(m) >= before+2 && len(partsOfType(m[len(m)-1], "finish")) == 1
	})
}

const ghToken = "ghp_e2eSECRETtoken4242424242"

// TestSessionOnRepoURLWithToken: a session on a private repository served
// over smart HTTP; the owner's github credential authenticates the clone
// and is then nowhere on disk and was in no process's argv; the agent's
// edits, additions, deletions, renames and binary writes show in the
// changed files and the diff.
func TestSessionOnRepoURLWithToken(t *testing.T) {
	srv := gitserver.Start(t, ghToken)
	url := srv.NewRepo(t, "private", map[string]string{
		"README.md": "hello\n", "src/app.go": "package app\n\nfunc A() {}\n", "old.txt": strings.Repeat("stays the same\n", 10),
		"gone.txt": "bye\n",
	})
	s := startServer(t, store.SQLite, "local")
	s.mustJSON("PUT", "/api/auth/me/credentials/github", s.token, map[string]any{"key": ghToken}, 200, nil)

	c := s.createSession(map[string]any{"repoUrl": url, "branch": "main"})
	id := c.Session.ID
	g := s.waitGitReady(id)
	if *g.SourceRepoURL != url || *g.Branch != "agentops/"+id[:8] || *g.BaseBranch != "main" || len(*g.BaseCommit) != 40 ||
		g.CommitCount != 0 || g.DirtyFiles != 0 {
		t.Fatalf("git state %+v", g)
	}
	ws := filepath.Join(s.cfg.DataDir, "workspaces", id)
	if b, err := os.ReadFile(filepath.Join(ws, "src/app.go")); err != nil || !strings.HasPrefix(string(b), "package app") {
		t.Fatalf("not cloned: %q %v", b, err)
	}
	if served, denied := srv.Requests(); served == 0 || denied != 0 {
		t.Fatalf("requests: %d served, %d denied", served, denied)
	}
	if leaks := srv.ArgvLeaks(); len(leaks) > 0 {
		t.Fatalf("the token was in a process's argv: %q", leaks)
	}
	noSecretUnder(t, s.cfg.DataDir, ghToken)

	s.promptAndWait(id, strings.Join([]string{
		`/write README.md hello\nworld\n`,
		`/write new/added.txt fresh\n`,
		`/delete gone.txt`,
		`/rename old.txt renamed.txt`,
		`/write-base64 logo.png ` + base64.StdEncoding.EncodeToString([]byte{0x89, 'P', 'N', 'G', 0, 0, 1, 2}),
		`make the changes`,
	}, "\n"))
	var files map[string]fileView
	eventually.True(t, 20*time.Second, "the changed files", func() bool { files = s.filesChanged(id); return len(files) == 5 })
	want := map[string]fileView{
		"README.md":     {Status: "modified", Additions: 1},
		"new/added.txt": {Status: "added", Additions: 1},
		"gone.txt":      {Status: "deleted", Deletions: 1},
		"renamed.txt":   {Status: "renamed"},
		"logo.png":      {Status: "added", Binary: true},
	}
	for p, w := range want {
		f := files[p]
		if f.Status != w.Status || f.Additions != w.Additions || f.Deletions != w.Deletions || f.Binary != w.Binary || f.ID != id+":"+p {
			t.Errorf("%s: %+v, want %+v", p, f, w)
		}
	}
	if o := files["renamed.txt"].OldPath; o == nil || *o != "old.txt" {
		t.Errorf("rename's old path %v", o)
	}
	// git status's count: the rename is a deletion and an untracked file
	// until it is staged.
	if g := s.gitState(id); g.DirtyFiles != 6 || g.CommitCount != 0 {
		t.Errorf("after the turn: %+v", g)
	}

	var d diffView
	s.mustJSON("GET", "/api/sessions/"+id+"/diff", s.token, nil, 200, &d)
	if d.Truncated || len(d.Files) != 5 {
		t.Fatalf("diff %+v", d)
	}
	for _, f := range d.Files {
		switch f.Path {
		case "README.md":
			if !strings.Contains(f.Diff, "+world") {
				t.Errorf("README diff %q", f.Diff)
			}
		case "logo.png":
			if !f.Binary || f.Diff != "" {
				t.Errorf("binary file shown: %+v", f)
			}
		case "renamed.txt":
			if f.OldPath != "old.txt" || f.Status != "renamed" {
				t.Errorf("rename %+v", f)
			}
		}
	}
	var one diffView
	s.mustJSON("GET", "/api/sessions/"+id+"/diff?path=gone.txt", s.token, nil, 200, &one)
	if len(one.Files) != 1 || one.Files[0].Status != "deleted" || !strings.Contains(one.Files[0].Diff, "-bye") {
		t.Fatalf("one file's diff %+v", one)
	}

	// A browser asks over its socket; every browser gets the answer.
	bc := s.dial(id, s.token)
	bc.send(map[string]any{"type": "diff"})
	f := bc.waitFor("a diff frame", typ("diff"))
	if d, _ := f["data"].(map[string]any); d == nil || len(d["files"].([]any)) != 5 || f["requestId"] == "" {
		t.Fatalf("diff frame %v", f)
	}

	// A commit by the agent counts; the branch is the session's.
	s.promptAndWait(id, "/commit agent work\ncommit")
	eventually.True(t, 20*time.Second, "the commit in the git state", func() bool {
		g := s.gitState(id)
		return g.CommitCount == 1 && g.DirtyFiles == 0
	})

	// A huge file: the diff is cut to fit, and says so.
	var big bytes.Buffer
	for i := 0; big.Len() < 3<<20; i++ {
		big.WriteString("a generated line of text that goes on and on \"quoted\" \\ and escaped\n")
	}
	if err := os.WriteFile(filepath.Join(ws, "huge.txt"), big.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var huge diffView
	code, raw := s.call("GET", "/api/sessions/"+id+"/diff", s.token, nil)
	if code != 200 || json.Unmarshal(raw, &huge) != nil {
		t.Fatalf("huge diff: %d %.300s", code, raw)
	}
	if !huge.Truncated || len(raw) > 2<<20 {
		t.Fatalf("huge diff: truncated=%v, %d bytes", huge.Truncated, len(raw))
	}

	s.mustJSON("POST", "/api/sessions/"+id+"/hibernate", s.token, nil, 200, nil)
	code, raw = s.call("GET", "/api/sessions/"+id+"/diff", s.token, nil)
	if code != 409 || !strings.Contains(string(raw), "wake") {
		t.Fatalf("diff of a hibernated session: %d %s", code, raw)
	}
	// What was last reported stays readable.
	if files := s.filesChanged(id); len(files) < 5 || files["logo.png"].Status != "added" {
		t.Fatalf("files after hibernation: %+v", files)
	}
	noSecretUnder(t, s.cfg.DataDir, ghToken)
}

// noSecretUnder fails if any file under dir holds the token or its
// Authorization header form. (The database holds the credential sealed.)
func noSecretUnder(t *testing.T, dir, token string) {
	t.Helper()
	needles := [][]byte{[]byte(token), []byte(base64.StdEncoding.EncodeToString([]byte("x-access-token:" + token)))}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("%s holds the token", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSessionCloneFailureShowsGitsError: a clone that fails ends the
// session in error with git's message, without the token.
func TestSessionCloneFailureShowsGitsError(t *testing.T) {
	srv := gitserver.Start(t, ghToken)
	s := startServer(t, store.SQLite, "local")
	s.mustJSON("PUT", "/api/auth/me/credentials/github", s.token, map[string]any{"key": ghToken}, 200, nil)
	id := s.createSession(map[string]any{"repoUrl": srv.URL + "/missing.git"}).Session.ID
	var got struct {
		Session struct{ Status, ErrorMessage string }
	}
	eventually.True(t, 30*time.Second, "the session to fail", func() bool {
		s.mustJSON("GET", "/api/sessions/"+id, s.token, nil, 200, &got)
		return got.Session.Status == "error"
	})
	msg := got.Session.ErrorMessage
	if !strings.Contains(msg, "could not be set up") || !strings.Contains(msg, "fatal:") || strings.Contains(msg, ghToken) {
		t.Fatalf("error message %q", msg)
	}
	noSecretUnder(t, s.cfg.DataDir, ghToken)
}

// TestRepoPathSessionsSideBySide: two sessions on one local repository at
// once, each on its own worktree and branch; the person's checkout is not
// touched; terminating one removes its worktree and keeps its branch.
func TestRepoPathSessionsSideBySide(t *testing.T) {
	root := t.TempDir()
	repo := filepath.Join(root, "project")
	if err := os.Mkdir(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	git := gitserver.Git
	git(t, repo, "init", "--quiet", "--initial-branch=main")
	if err := os.WriteFile(filepath.Join(repo, "code.go"), []byte("package p\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, repo, "add", ".")
	git(t, repo, "-c", "user.name=p", "-c", "user.email=p@e", "commit", "--quiet", "-m", "start")
	if err := os.WriteFile(filepath.Join(repo, "code.go"), []byte("package p // mine, uncommitted\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := git(t, repo, "status", "--porcelain")
	head := git(t, repo, "rev-parse", "HEAD")

	s := startServer(t, store.SQLite, "local", func(c *app.Config) { c.RepoRoots = []string{root} })
	a := s.createSession(map[string]any{"repoPath": repo}).Session.ID
	b := s.createSession(map[string]any{"repoPath": repo}).Session.ID
	for _, id := range []string{a, b} {
		g := s.waitGitReady(id)
		if *g.Branch != "agentops/"+id[:8] || *g.BaseCommit != head || *g.BaseBranch != "main" || g.RepoPath == nil {
			t.Fatalf("%s: %+v", id, g)
		}
	}
	s.promptAndWait(a, "/write a.txt from a\nA")
	s.promptAndWait(b, "/write code.go package p // from b\n\nB")
	eventually.True(t, 20*time.Second, "each session's changes", func() bool {
		fa, fb := s.filesChanged(a), s.filesChanged(b)
		return len(fa) == 1 && fa["a.txt"].Status == "added" && len(fb) == 1 && fb["code.go"].Status == "modified"
	})
	if got := git(t, repo, "status", "--porcelain"); got != before {
		t.Fatalf("the person's checkout changed: %q, was %q", got, before)
	}
	if git(t, repo, "rev-parse", "HEAD") != head || git(t, repo, "symbolic-ref", "--short", "HEAD") != "main" {
		t.Fatal("the person's HEAD moved")
	}

	s.mustJSON("DELETE", "/api/sessions/"+a, s.token, nil, 200, nil)
	if _, err := os.Stat(filepath.Join(s.cfg.DataDir, "workspaces", a)); !os.IsNotExist(err) {
		t.Fatalf("the worktree is still there: %v", err)
	}
	if got := git(t, repo, "show", "agentops/"+a[:8]+":a.txt"); got != "from a" {
		t.Fatalf("the branch lost the session's work: %q", got)
	}
	if out := git(t, repo, "worktree", "list", "--porcelain"); strings.Contains(out, a) || !strings.Contains(out, b) {
		t.Fatalf("worktrees: %s", out)
	}
	if got := git(t, repo, "status", "--porcelain"); got != before {
		t.Fatalf("the person's checkout changed: %q", got)
	}
	s.mustJSON("DELETE", "/api/sessions/"+b, s.token, nil, 200, nil)
}

// TestGitCreateRefusals: bad repository input is a 400 naming the field,
// and creates nothing.
func TestGitCreateRefusals(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	gitserver.Git(t, outside, "init", "--quiet")
	gitserver.Git(t, outside, "-c", "user.name=p", "-c", "user.email=p@e", "commit", "--quiet", "--allow-empty", "-m", "x")
	if err := os.Symlink(outside, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	inside := filepath.Join(root, "repo")
	gitserver.Git(t, root, "init", "--quiet", "repo")
	gitserver.Git(t, inside, "-c", "user.name=p", "-c", "user.email=p@e", "commit", "--quiet", "--allow-empty", "-m", "x")

	s := startServer(t, store.SQLite, "local", func(c *app.Config) { c.RepoRoots = []string{root} })
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"repoUrl": "ssh://git@github.com/o/r.git"}, "repoUrl"},
		{map[string]any{"repoUrl": "git@github.com:o/r.git"}, "repoUrl"},
		{map[string]any{"repoUrl": "git://github.com/o/r.git"}, "repoUrl"},
		{map[string]any{"repoUrl": "ext::sh -c id"}, "repoUrl"},
		{map[string]any{"repoUrl": "http://example.com/o/r.git"}, "repoUrl"},
		{map[string]any{"repoUrl": "https://me:ghp_x@github.com/o/r.git"}, "repoUrl"},
		{map[string]any{"repoUrl": "file://" + outside}, "repoUrl"},
		{map[string]any{"repoPath": outside}, "repoPath"},
		{map[string]any{"repoPath": filepath.Join(root, "escape")}, "repoPath"},
		{map[string]any{"repoPath": inside, "branch": "no-such-branch"}, "repoPath"},
		{map[string]any{"repoPath": inside, "repoUrl": "https://github.com/o/r.git"}, "repoPath"},
		{map[string]any{"repoUrl": "https://github.com/o/r.git", "branch": "bad..name"}, "branch"},
		{map[string]any{"repoUrl": "https://github.com/o/r.git", "ref": "-x"}, "ref"},
		{map[string]any{"branch": "with space"}, "branch"},
	} {
		tc.body["workspace"] = "w"
		code, raw := s.call("POST", "/api/sessions", s.token, tc.body)
		var e struct {
			Error, Code string
			Details     map[string]any
		}
		_ = json.Unmarshal(raw, &e)
		if code != 400 || e.Code == "" || !strings.Contains(string(raw), tc.field) {
			t.Errorf("%v: %d %s (want 400 naming %s)", tc.body, code, raw, tc.field)
		}
	}
	var list struct{ Sessions []any }
	s.mustJSON("GET", "/api/sessions", s.token, nil, 200, &list)
	if len(list.Sessions) != 0 {
		t.Fatalf("refused creates made %d sessions", len(list.Sessions))
	}
	// A file:// URL and a path under the roots are fine.
	id := s.createSession(map[string]any{"repoUrl": "file://" + inside}).Session.ID
	s.waitGitReady(id)
	s.mustJSON("DELETE", "/api/sessions/"+id, s.token, nil, 200, nil)

	ext := startServer(t, store.SQLite, "external", func(c *app.Config) { c.RepoRoots = []string{root} })
	code, raw := ext.call("POST", "/api/sessions", ext.token, map[string]any{"workspace": "w", "repoPath": inside})
	if code != 400 || !strings.Contains(string(raw), "repoPath") {
		t.Fatalf("repoPath with external sandboxes: %d %s", code, raw)
	}
}

package gitws_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/agentops/agentops/app/workspace/gitws"
	"github.com/agentops/agentops/internal/testutil/gitserver"
)

const token = "ghp_testTOKENvalue0123456789abcdef"

var git = gitserver.Git

func write(t *testing.T, dir, path, content string) {
	t.Helper()
	full := filepath.Join(dir, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// mustNotContain fails if any file under dir holds one of the needles.
func mustNotContain(t *testing.T, dir string, needles ...string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				t.Errorf("%s holds the secret %q", p, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCloneWithTokenLeavesItNowhere(t *testing.T) {
	srv := gitserver.Start(t, token)
	url := srv.NewRepo(t, "private", map[string]string{"README.md": "hello\n", "src/main.go": "package main\n"})
	if err := gitws.CheckRepoURL(url, nil); err != nil {
		t.Fatalf("a loopback http URL is refused: %v", err)
	}
	ws := t.TempDir()
	var progress []int
	st, err := gitws.Prepare(context.Background(), ws, gitws.Spec{RepoURL: url, Token: token, Branch: "agentops/abcd1234"},
		func(p int) { progress = append(progress, p) })
	if err != nil {
		t.Fatalf("clone: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "src/main.go")); string(b) != "package main\n" {
		t.Fatalf("checked out %q", b)
	}
	if st.Branch != "agentops/abcd1234" || st.BaseBranch != "main" || len(st.BaseCommit) != 40 || st.CommitCount != 0 || st.DirtyFiles != 0 {
		t.Fatalf("state %+v", st)
	}
	if len(progress) == 0 || progress[len(progress)-1] != 100 {
		t.Fatalf("progress %v does not end at 100", progress)
	}
	// The token is in no file of the workspace (config, remote URL,
	// reflogs, packs), in no process's argv while the clone ran, and the
	// remote URL is the plain one.
	mustNotContain(t, ws, token, base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token)))
	if leaks := srv.ArgvLeaks(); len(leaks) > 0 {
		t.Fatalf("the token was in argv: %q", leaks)
	}
	if got := git(t, ws, "remote", "get-url", "origin"); got != url {
		t.Fatalf("remote URL %q", got)
	}
	if served, _ := srv.Requests(); served == 0 {
		t.Fatal("the server saw no request: the argv check proves nothing")
	}

	// Set up already (a restored session): Prepare keeps it.
	write(t, ws, "new.txt", "x\n")
	st2, err := gitws.Prepare(context.Background(), ws, gitws.Spec{RepoURL: url, Branch: "agentops/abcd1234"}, nil)
	if err != nil || st2.BaseCommit != st.BaseCommit || st2.DirtyFiles != 1 {
		t.Fatalf("second prepare: %+v %v", st2, err)
	}
}

func TestCloneFailureShowsGitErrorWithoutToken(t *testing.T) {
	srv := gitserver.Start(t, token)
	url := srv.NewRepo(t, "private", map[string]string{"a": "a"})
	for name, spec := range map[string]gitws.Spec{
		"wrong token":  {RepoURL: url, Token: "ghp_wrong" + token, Branch: "agentops/x"},
		"no such repo": {RepoURL: srv.URL + "/missing.git", Token: token, Branch: "agentops/x"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := gitws.Prepare(context.Background(), t.TempDir(), spec, nil)
			var ge *gitws.GitError
			if !errors.As(err, &ge) {
				t.Fatalf("want a git error, got %v", err)
			}
			msg := err.Error()
			if strings.Contains(msg, token) || strings.Contains(msg, base64.StdEncoding.EncodeToString([]byte("x-access-token:"+spec.Token))) {
				t.Fatalf("the error shows the token: %s", msg)
			}
			if !strings.Contains(msg, "fatal:") {
				t.Fatalf("the error does not carry git's message: %s", msg)
			}
		})
	}
}

func TestCloneFileURLAndBaseRef(t *testing.T) {
	root := t.TempDir()
	srv := gitserver.Start(t, "")
	_ = srv.NewRepo(t, "r", map[string]string{"a.txt": "one\n"})
	bare := filepath.Join(srv.Root, "r.git")
	// A second branch and a tag to start from.
	work := t.TempDir()
	git(t, work, "clone", "--quiet", bare, ".")
	git(t, work, "checkout", "--quiet", "-b", "feature")
	write(t, work, "b.txt", "two\n")
	git(t, work, "add", ".")
	git(t, work, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "--quiet", "-m", "b")
	git(t, work, "tag", "v1")
	git(t, work, "push", "--quiet", "origin", "feature", "v1")
	repo := filepath.Join(root, "r.git")
	if err := os.Rename(bare, repo); err != nil {
		t.Fatal(err)
	}
	fileURL := "file://" + repo
	if err := gitws.CheckRepoURL(fileURL, []string{root}); err != nil {
		t.Fatalf("file:// under the roots: %v", err)
	}
	for _, base := range []string{"feature", "v1"} {
		ws := t.TempDir()
		st, err := gitws.Prepare(context.Background(), ws, gitws.Spec{RepoURL: fileURL, Base: base, Branch: "agentops/f"}, nil)
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		if _, err := os.Stat(filepath.Join(ws, "b.txt")); err != nil || st.BaseBranch != base {
			t.Fatalf("%s: %+v %v", base, st, err)
		}
	}
	_, err := gitws.Prepare(context.Background(), t.TempDir(), gitws.Spec{RepoURL: fileURL, Base: "nope", Branch: "agentops/f"}, nil)
	if err == nil || !strings.Contains(err.Error(), `"nope" names no branch`) {
		t.Fatalf("missing base: %v", err)
	}
}

func TestCheckRepoURLRefusesOtherTransports(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	git(t, outside, "init", "--quiet")
	escape := filepath.Join(root, "escape")
	if err := os.Symlink(outside, escape); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{
		"ssh://git@github.com/o/r.git", "git@github.com:o/r.git", "git://github.com/o/r.git",
		"ext::sh -c touch% /tmp/pwned", "http://github.com/o/r.git", "https://user:secret@github.com/o/r.git",
		"file://" + outside, outside, "file://" + escape, escape, "relative/path", "-u", "",
		"fd::17", "https://", "file://" + root + "/missing",
	} {
		err := gitws.CheckRepoURL(u, []string{root})
		if !errors.Is(err, gitws.ErrInvalid) {
			t.Errorf("%q: want ErrInvalid, got %v", u, err)
		}
	}
	if err := gitws.CheckRepoURL("https://github.com/o/r.git", nil); err != nil {
		t.Errorf("https refused: %v", err)
	}
	if err := gitws.CheckRepoURL("http://[::1]:8080/r.git", nil); err != nil {
		t.Errorf("loopback http refused: %v", err)
	}
}

func TestCheckBranchName(t *testing.T) {
	ctx := context.Background()
	for _, ok := range []string{"main", "feature/x", "v1.2", "release-2026"} {
		if err := gitws.CheckBranchName(ctx, ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"a..b", "-x", "a b", "x.lock", "a~1", "a^", "a:b", "/x", "x/", "@", "a\\b", ""} {
		if err := gitws.CheckBranchName(ctx, bad); !errors.Is(err, gitws.ErrInvalid) {
			t.Errorf("%q accepted (%v)", bad, err)
		}
	}
}

// personRepo is someone's checkout under root: committed files, a local
// uncommitted edit, an untracked file.
func personRepo(t *testing.T, root string) string {
	repo := filepath.Join(root, "project")
	if err := os.Mkdir(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	git(t, repo, "init", "--quiet", "--initial-branch=main")
	write(t, repo, "README.md", "project\n")
	write(t, repo, "lib/code.go", "package lib\n")
	git(t, repo, "add", ".")
	git(t, repo, "-c", "user.name=p", "-c", "user.email=p@e", "commit", "--quiet", "-m", "start")
	write(t, repo, "README.md", "project, being edited by its owner\n")
	write(t, repo, "notes.txt", "mine\n")
	return repo
}

func TestWorktreesSideBySideLeaveTheCheckoutAlone(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	repo := personRepo(t, root)
	before := git(t, repo, "status", "--porcelain")
	head := git(t, repo, "rev-parse", "HEAD")

	real, err := gitws.CheckLocalRepo(ctx, repo, "", []string{root})
	if err != nil {
		t.Fatal(err)
	}
	ws := []string{t.TempDir(), t.TempDir()}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range ws {
		wg.Go(func() {
			_, errs[i] = gitws.Prepare(ctx, ws[i], gitws.Spec{RepoPath: real, Branch: gitws.SessionBranch([]string{"aaaaaaaa-1", "bbbbbbbb-2"}[i])}, nil)
		})
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("worktrees: %v %v", errs[0], errs[1])
	}
	write(t, ws[0], "README.md", "session one\n")
	write(t, ws[1], "lib/code.go", "package lib // two\n")
	git(t, ws[1], "add", ".")
	git(t, ws[1], "-c", "user.name=a", "-c", "user.email=a@e", "commit", "--quiet", "-m", "two")

	for i, want := range []string{"agentops/aaaaaaaa", "agentops/bbbbbbbb"} {
		st, err := gitws.Status(ctx, ws[i])
		if err != nil || st.Branch != want || st.BaseCommit != head || st.BaseBranch != "main" {
			t.Fatalf("worktree %d: %+v %v", i, st, err)
		}
	}
	if st, _ := gitws.Status(ctx, ws[1]); st.CommitCount != 1 || st.DirtyFiles != 0 {
		t.Fatalf("worktree 1: %+v", st)
	}
	if b, _ := os.ReadFile(filepath.Join(ws[1], "README.md")); string(b) != "project\n" {
		t.Fatalf("worktree 1 sees worktree 0's edit or the owner's: %q", b)
	}
	if got := git(t, repo, "status", "--porcelain"); got != before {
		t.Fatalf("the person's checkout changed: %q, was %q", got, before)
	}
	if git(t, repo, "rev-parse", "HEAD") != head || git(t, repo, "symbolic-ref", "--short", "HEAD") != "main" {
		t.Fatal("the person's HEAD moved")
	}

	// Removing a worktree keeps its branch, with the work it left.
	if err := gitws.RemoveWorktree(ctx, real, ws[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ws[0]); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("worktree dir still there: %v", err)
	}
	if got := git(t, repo, "show", "agentops/aaaaaaaa:README.md"); got != "session one" {
		t.Fatalf("branch lost the uncommitted work: %q", got)
	}
	if got := git(t, repo, "status", "--porcelain"); got != before {
		t.Fatalf("the person's checkout changed: %q", got)
	}
	// A worktree whose directory is gone already is pruned.
	if err := os.RemoveAll(ws[1]); err != nil {
		t.Fatal(err)
	}
	if err := gitws.RemoveWorktree(ctx, real, ws[1]); err != nil {
		t.Fatal(err)
	}
	if out := git(t, repo, "worktree", "list"); strings.Count(out, "\n") != 0 {
		t.Fatalf("worktrees left: %s", out)
	}
}

func TestCheckLocalRepoRefusals(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	repo := personRepo(t, root)
	outside := personRepo(t, t.TempDir())
	link := filepath.Join(root, "link")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ path, base string }{
		"outside":        {outside, ""},
		"escape symlink": {link, ""},
		"dotdot":         {root + "/../" + filepath.Base(filepath.Dir(outside)), ""},
		"not a repo":     {root, ""},
		"subdir":         {filepath.Join(repo, "lib"), ""},
		"missing base":   {repo, "no-such-branch"},
		"relative":       {"project", ""},
	} {
		if _, err := gitws.CheckLocalRepo(ctx, c.path, c.base, []string{root}); !errors.Is(err, gitws.ErrInvalid) {
			t.Errorf("%s: want ErrInvalid, got %v", name, err)
		}
	}
	if _, err := gitws.CheckLocalRepo(ctx, repo, "", nil); !errors.Is(err, gitws.ErrInvalid) {
		t.Errorf("no roots: %v", err)
	}
}

func TestChangedFilesAndDiff(t *testing.T) {
	ctx := context.Background()
	ws := t.TempDir()
	if _, err := gitws.Prepare(ctx, ws, gitws.Spec{Branch: "agentops/e"}, nil); err != nil {
		t.Fatal(err)
	}
	write(t, ws, "keep.txt", "1\n2\n3\n")
	write(t, ws, "gone.txt", "bye\n")
	write(t, ws, "old name.txt", strings.Repeat("a line that stays the same\n", 20))
	git(t, ws, "add", ".")
	git(t, ws, "-c", "user.name=a", "-c", "user.email=a@e", "commit", "--quiet", "-m", "files")
	// That commit is the agent's work too: rebase the check on a base
	// that has the files, as a clone would.
	base := git(t, ws, "rev-parse", "HEAD")
	gd := git(t, ws, "rev-parse", "--absolute-git-dir")
	if err := os.WriteFile(filepath.Join(gd, "agentops-base"), []byte(base+" main\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	write(t, ws, "keep.txt", "1\ntwo\n3\n4\n")
	write(t, ws, "new/added.txt", "fresh\n")
	os.Remove(filepath.Join(ws, "gone.txt"))
	os.Rename(filepath.Join(ws, "old name.txt"), filepath.Join(ws, "new name.txt"))
	if err := os.WriteFile(filepath.Join(ws, "blob.bin"), []byte{0, 1, 2, 0, 255, 0}, 0o644); err != nil {
		t.Fatal(err)
	}
	write(t, ws, ".gitignore", "*.log\n")
	write(t, ws, "ignored.log", "noise\n")

	files, err := gitws.ChangedFiles(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]gitws.FileChange{}
	for _, f := range files {
		got[f.Path] = f
	}
	want := map[string]gitws.FileChange{
		".gitignore":    {Path: ".gitignore", Status: gitws.Added, Additions: 1},
		"blob.bin":      {Path: "blob.bin", Status: gitws.Added, Binary: true},
		"gone.txt":      {Path: "gone.txt", Status: gitws.Deleted, Deletions: 1},
		"keep.txt":      {Path: "keep.txt", Status: gitws.Modified, Additions: 2, Deletions: 1},
		"new name.txt":  {Path: "new name.txt", OldPath: "old name.txt", Status: gitws.Renamed},
		"new/added.txt": {Path: "new/added.txt", Status: gitws.Added, Additions: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("changed files %+v", files)
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s: got %+v, want %+v", p, got[p], w)
		}
	}
	// The workspace's own index is untouched: nothing got staged.
	if staged := git(t, ws, "diff", "--cached", "--name-only"); staged != "" {
		t.Fatalf("staged: %q", staged)
	}

	d, err := gitws.Diff(ctx, ws, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if d.Truncated || len(d.Files) != 6 {
		t.Fatalf("diff %+v", d)
	}
	for _, f := range d.Files {
		switch f.Path {
		case "blob.bin":
			if !f.Binary || f.Diff != "" {
				t.Errorf("binary shown: %+v", f)
			}
		case "keep.txt":
			if !strings.Contains(f.Diff, "-2\n+two\n") || !strings.HasPrefix(f.Diff, "diff --git a/keep.txt b/keep.txt\n") {
				t.Errorf("keep.txt diff %q", f.Diff)
			}
		case "new name.txt":
			if !strings.Contains(f.Diff, "rename from old name.txt") {
				t.Errorf("rename diff %q", f.Diff)
			}
		case "gone.txt":
			if !strings.Contains(f.Diff, "-bye") {
				t.Errorf("delete diff %q", f.Diff)
			}
		}
	}
	one, err := gitws.Diff(ctx, ws, "old name.txt", 0)
	if err != nil || len(one.Files) != 1 || one.Files[0].Path != "new name.txt" || !strings.Contains(one.Files[0].Diff, "rename to new name.txt") {
		t.Fatalf("diff by old name: %+v %v", one, err)
	}
	none, err := gitws.Diff(ctx, ws, "untouched", 0)
	if err != nil || len(none.Files) != 0 {
		t.Fatalf("diff of an unchanged path: %+v %v", none, err)
	}
}

func TestDiffOfAHugeFileIsCut(t *testing.T) {
	ctx := context.Background()
	ws := t.TempDir()
	if _, err := gitws.Prepare(ctx, ws, gitws.Spec{Branch: "agentops/h"}, nil); err != nil {
		t.Fatal(err)
	}
	write(t, ws, "a-small.txt", "small\n")
	var b strings.Builder
	for i := 0; b.Len() < 8<<20; i++ {
		b.WriteString("line of a very large generated file, number ")
		b.WriteString(strings.Repeat("x", i%50))
		b.WriteString("\n")
	}
	write(t, ws, "b-huge.txt", b.String())
	write(t, ws, "c-after.txt", "after\n")
	d, err := gitws.Diff(ctx, ws, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, f := range d.Files {
		total += len(f.Diff)
	}
	if !d.Truncated || total > gitws.DefaultDiffLimit || len(d.Files) != 3 {
		t.Fatalf("truncated=%v total=%d files=%d", d.Truncated, total, len(d.Files))
	}
	if d.Files[0].Truncated || !d.Files[1].Truncated || !d.Files[2].Truncated || d.Files[2].Diff != "" {
		t.Fatalf("marks: %+v %+v %+v", d.Files[0].Truncated, d.Files[1].Truncated, d.Files[2].Truncated)
	}
	if !strings.Contains(d.Files[0].Diff, "+small") {
		t.Fatalf("the small file's diff is missing: %q", d.Files[0].Diff)
	}
	files, err := gitws.ChangedFiles(ctx, ws)
	if err != nil || len(files) != 3 || files[1].Additions < 100000 {
		t.Fatalf("changed files: %+v %v", files, err)
	}
}

func TestNewWorkspaceIsAnEmptyRepository(t *testing.T) {
	ctx := context.Background()
	ws := t.TempDir()
	st, err := gitws.Prepare(ctx, ws, gitws.Spec{Branch: "agentops/n", Base: "trunk"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Branch != "agentops/n" || st.BaseBranch != "trunk" || st.CommitCount != 0 || st.DirtyFiles != 0 {
		t.Fatalf("%+v", st)
	}
	files, err := gitws.ChangedFiles(ctx, ws)
	if err != nil || len(files) != 0 {
		t.Fatalf("%+v %v", files, err)
	}
}

// TestPrepareStartsAnUnfinishedSetUpAgain: a runner stopped in the middle
// of a clone or a worktree leaves a .git behind; the next Prepare starts
// over instead of taking it for a finished workspace.
func TestPrepareStartsAnUnfinishedSetUpAgain(t *testing.T) {
	ctx := context.Background()
	srv := gitserver.Start(t, "")
	url := srv.NewRepo(t, "r", map[string]string{"a.txt": "a\n"})
	ws := t.TempDir()
	if err := os.MkdirAll(filepath.Join(ws, ".git", "objects"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, ws, "partial", "x")
	st, err := gitws.Prepare(ctx, ws, gitws.Spec{RepoURL: url, Branch: "agentops/again"}, nil)
	if err != nil || st.Branch != "agentops/again" {
		t.Fatalf("%+v %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(ws, "partial")); !os.IsNotExist(err) {
		t.Fatalf("leftover kept: %v", err)
	}

	root := t.TempDir()
	repo := personRepo(t, root)
	wt := t.TempDir()
	if _, err := gitws.Prepare(ctx, wt, gitws.Spec{RepoPath: repo, Branch: "agentops/wt"}, nil); err != nil {
		t.Fatal(err)
	}
	gd := git(t, wt, "rev-parse", "--absolute-git-dir")
	os.Remove(filepath.Join(gd, "agentops-base")) // as if cut short before the end
	st, err = gitws.Prepare(ctx, wt, gitws.Spec{RepoPath: repo, Branch: "agentops/wt"}, nil)
	if err != nil || st.Branch != "agentops/wt" || st.BaseCommit != git(t, repo, "rev-parse", "HEAD") {
		t.Fatalf("worktree again: %+v %v", st, err)
	}
}

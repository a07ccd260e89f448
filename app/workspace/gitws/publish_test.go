package gitws_test

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/agentops/agentops/app/workspace/gitws"
	"github.com/agentops/agentops/internal/testutil/gitserver"
)

func TestCommitAndPushToAServedRepository(t *testing.T) {
	ctx := context.Background()
	srv := gitserver.Start(t, token)
	url := srv.NewRepo(t, "app", map[string]string{"README.md": "hello\n"})
	ws := t.TempDir()
	if _, err := gitws.Prepare(ctx, ws, gitws.Spec{RepoURL: url, Token: token, Branch: "agentops/abcd1234"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := gitws.Commit(ctx, ws, "nothing", "Ada", "ada@example.com"); !errors.Is(err, gitws.ErrNothingToCommit) {
		t.Fatalf("commit of a clean workspace: %v", err)
	}
	write(t, ws, "src/new.go", "package src\n")
	write(t, ws, "README.md", "hello again\n")
	c, err := gitws.Commit(ctx, ws, "  Add src\n\nand change the readme\n", "Ada Lovelace", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.SHA) != 40 || c.Message != "Add src\n\nand change the readme" {
		t.Fatalf("commit %+v", c)
	}
	if got := git(t, ws, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%s"); got != "Ada Lovelace <ada@example.com>|Ada Lovelace <ada@example.com>|Add src" {
		t.Fatalf("author: %s", got)
	}
	if st, _ := gitws.Status(ctx, ws); st.DirtyFiles != 0 || st.CommitCount != 1 {
		t.Fatalf("after commit: %+v", st)
	}

	p, err := gitws.Push(ctx, ws, "", token)
	if err != nil {
		t.Fatal(err)
	}
	if p.Branch != "agentops/abcd1234" || p.Remote != url || p.Commits != 1 || p.Head != c.SHA {
		t.Fatalf("push %+v", p)
	}
	bare := srv.Root + "/app.git"
	if got := git(t, bare, "rev-parse", "refs/heads/agentops/abcd1234"); got != c.SHA {
		t.Fatalf("the remote's branch is at %s, want %s", got, c.SHA)
	}
	mustNotContain(t, ws, token, base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token)))
	if leaks := srv.ArgvLeaks(); len(leaks) > 0 {
		t.Fatalf("the token was in argv: %q", leaks)
	}

	// A second push with nothing new sends no commits; a new commit counts once.
	if p, err = gitws.Push(ctx, ws, "", token); err != nil || p.Commits != 0 {
		t.Fatalf("second push: %+v %v", p, err)
	}
	write(t, ws, "b.txt", "b\n")
	if _, err := gitws.Commit(ctx, ws, "b", "Ada", "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	if p, err = gitws.Push(ctx, ws, "", token); err != nil || p.Commits != 1 {
		t.Fatalf("third push: %+v %v", p, err)
	}
}

func TestPushRefusalsShowTheRemotesWordsWithoutTheToken(t *testing.T) {
	ctx := context.Background()
	srv := gitserver.Start(t, token)
	url := srv.NewRepo(t, "guarded", map[string]string{"a": "a\n"})
	ws := t.TempDir()
	if _, err := gitws.Prepare(ctx, ws, gitws.Spec{RepoURL: url, Token: token, Branch: "agentops/x"}, nil); err != nil {
		t.Fatal(err)
	}
	write(t, ws, "b", "b\n")
	if _, err := gitws.Commit(ctx, ws, "b", "Ada", "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	srv.RejectPushes(t, "guarded", "GH006: Protected branch update failed")
	_, err := gitws.Push(ctx, ws, "", token)
	var ge *gitws.GitError
	if !errors.As(err, &ge) || !strings.Contains(err.Error(), "GH006: Protected branch update failed") {
		t.Fatalf("a rejected push: %v", err)
	}
	_, err = gitws.Push(ctx, ws, "", "ghp_wrong"+token)
	if err == nil || strings.Contains(err.Error(), token) ||
		strings.Contains(err.Error(), base64.StdEncoding.EncodeToString([]byte("x-access-token:ghp_wrong"+token))) {
		t.Fatalf("a push with a wrong token: %v", err)
	}

	empty := t.TempDir()
	if _, err := gitws.Prepare(ctx, empty, gitws.Spec{Branch: "agentops/y"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := gitws.Push(ctx, empty, "", token); !errors.Is(err, gitws.ErrNoRemote) {
		t.Fatalf("push without a remote: %v", err)
	}
}

// TestPushGoesToTheGivenURLAndRunsNoHooks: an origin the agent changed does
// not redirect the push (nor the token), and hooks it wrote do not run.
func TestPushGoesToTheGivenURLAndRunsNoHooks(t *testing.T) {
	ctx := context.Background()
	srv := gitserver.Start(t, token)
	url := srv.NewRepo(t, "acme/app", map[string]string{"a": "a\n"})
	ws := t.TempDir()
	if _, err := gitws.Prepare(ctx, ws, gitws.Spec{RepoURL: url, Token: token, Branch: "agentops/h"}, nil); err != nil {
		t.Fatal(err)
	}
	git(t, ws, "remote", "set-url", "origin", "http://127.0.0.1:1/elsewhere.git")
	ran := ws + "/hook-ran"
	for _, h := range []string{"pre-commit", "post-commit", "pre-push", "reference-transaction"} {
		write(t, ws, ".git/hooks/"+h, "#!/bin/sh\necho "+h+" >> "+ran+"\n")
		if err := os.Chmod(ws+"/.git/hooks/"+h, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, ws, "b", "b\n")
	if _, err := gitws.Commit(ctx, ws, "b", "Ada", "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	p, err := gitws.Push(ctx, ws, url, token)
	if err != nil || p.Remote != url || p.Commits != 1 {
		t.Fatalf("push: %+v %v", p, err)
	}
	if b, err := os.ReadFile(ran); err == nil {
		t.Fatalf("hooks ran: %s", b)
	}
}

package gitws

import (
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// ErrNothingToCommit is Commit's answer for a workspace without changes.
var ErrNothingToCommit = errors.New("gitws: nothing to commit: the workspace has no changes")

// ErrNoRemote is Push's answer for a workspace without an origin remote (a
// new, empty repository).
var ErrNoRemote = errors.New("gitws: the workspace has no remote to push to (it was not cloned from a repository)")

// Committed is what Commit made.
type Committed struct {
	SHA     string `json:"sha"`
	Message string `json:"message"`
}

// Commit commits everything in the workspace (as `git add --all`, ignored
// files left out) on the current branch, with name and email as author
// and committer. Hooks do not run: the agent could have written them.
func Commit(ctx context.Context, dir, message, name, email string) (Committed, error) {
	message = strings.TrimSpace(message)
	if message == "" {
		return Committed{}, invalid("a commit needs a message")
	}
	if name == "" || email == "" {
		return Committed{}, invalid("a commit needs an author name and email")
	}
	if _, err := run(ctx, cmd{dir: dir, args: []string{"add", "--all", "--", "."}}); err != nil {
		return Committed{}, err
	}
	if _, err := run(ctx, cmd{dir: dir, args: []string{"diff", "--cached", "--quiet"}}); err == nil {
		return Committed{}, ErrNothingToCommit
	}
	ident := []string{"GIT_AUTHOR_NAME=" + name, "GIT_AUTHOR_EMAIL=" + email,
		"GIT_COMMITTER_NAME=" + name, "GIT_COMMITTER_EMAIL=" + email}
	args := []string{"commit", "--quiet", "--no-verify", "--cleanup=strip", "-F", "-"}
	if _, err := run(ctx, cmd{dir: dir, env: ident, args: args, stdin: message}); err != nil {
		return Committed{}, err
	}
	sha, err := resolveCommit(ctx, dir, "HEAD")
	if err != nil {
		return Committed{}, err
	}
	return Committed{SHA: sha, Message: message}, nil
}

// Pushed is what Push did: the branch, the remote's URL (as configured:
// without credentials) and how many commits of the session's branch the
// remote did not have before.
type Pushed struct {
	Branch  string `json:"branch"`
	Remote  string `json:"remote"`
	Commits int    `json:"commits"`
	Head    string `json:"head"`
}

// Push pushes the workspace's current branch under the same name to
// remoteURL (the URL the session was cloned from; empty: origin's URL as
// configured). The token, when set, reaches git as clone's does: an extraHeader in
// the one command's environment, scoped to the remote's origin, and is
// scrubbed from any error.
func Push(ctx context.Context, dir, remoteURL, token string) (Pushed, error) {
	out, err := run(ctx, cmd{dir: dir, args: []string{"symbolic-ref", "--quiet", "--short", "HEAD"}})
	if err != nil {
		return Pushed{}, errors.New("gitws: the workspace is not on a branch")
	}
	branch := strings.TrimSpace(out)
	remote := remoteURL
	if remote == "" {
		out, err = run(ctx, cmd{dir: dir, args: []string{"remote", "get-url", "origin"}})
		if err != nil {
			return Pushed{}, ErrNoRemote
		}
		remote = strings.TrimSpace(out)
	}
	var env, secrets []string
	if u, perr := url.Parse(remote); perr == nil && (u.Scheme == "https" || u.Scheme == "http") && token != "" {
		auth := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + token))
		env = []string{
			"GIT_CONFIG_COUNT=1",
			"GIT_CONFIG_KEY_0=http." + u.Scheme + "://" + u.Host + "/.extraHeader",
			"GIT_CONFIG_VALUE_0=Authorization: Basic " + auth,
		}
		secrets = []string{token, auth}
	}
	head, err := resolveCommit(ctx, dir, "HEAD")
	if err != nil {
		return Pushed{}, err
	}
	// Commits the remote lacks: those not reachable from any remote-tracking
	// ref after the push's own fetch of nothing; counted before pushing,
	// since the push updates origin/<branch>.
	n := 0
	if cnt, err := run(ctx, cmd{dir: dir, args: []string{"rev-list", "--count", "HEAD", "--not", "--remotes=origin"}}); err == nil {
		n, _ = strconv.Atoi(strings.TrimSpace(cnt))
	}
	_, err = run(ctx, cmd{dir: dir, env: env, secrets: secrets,
		args: []string{"push", "--porcelain", "--no-verify", remote, "HEAD:refs/heads/" + branch}})
	if err != nil {
		var ge *GitError
		if errors.As(err, &ge) {
			ge.Stderr = scrubRemote(ge.Stderr, remote)
		}
		return Pushed{}, err
	}
	// Record where the remote is now, so the next push counts only new
	// commits (push updates origin/<branch> itself; this is the fallback
	// for remotes without a fetch refspec, such as worktrees' repos).
	_, _ = run(ctx, cmd{dir: dir, args: []string{"update-ref", "refs/remotes/origin/" + branch, head}})
	return Pushed{Branch: branch, Remote: remote, Commits: n, Head: head}, nil
}

// scrubRemote removes credentials a remote URL itself may carry.
func scrubRemote(s, remote string) string {
	u, err := url.Parse(remote)
	if err != nil || u.User == nil {
		return s
	}
	pw, _ := u.User.Password()
	return scrub(s, []string{pw, u.User.String()})
}

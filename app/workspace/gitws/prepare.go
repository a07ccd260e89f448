package gitws

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Spec says where a workspace's code comes from. At most one of RepoURL
// and RepoPath is set; neither makes a new, empty repository.
type Spec struct {
	// RepoURL is cloned into the workspace (checked with CheckRepoURL by
	// whoever accepted it).
	RepoURL string
	// Token, when set, authenticates the clone over http(s) as GitHub
	// expects (basic auth with the user x-access-token). It reaches git
	// only through that one command's environment.
	Token string
	// RepoPath is a repository on this machine: the workspace becomes a
	// worktree of it, and the repository's own checkout is not touched.
	RepoPath string
	// Base is the branch or ref to start from; empty: the remote's
	// default branch, the repository's HEAD, or "main" for a new one.
	Base string
	// Branch is the session's own branch (SessionBranch).
	Branch string
}

// State is a workspace's git state as the runner reports it.
type State struct {
	Branch      string `json:"branch"`
	BaseBranch  string `json:"baseBranch,omitempty"`
	BaseCommit  string `json:"baseCommit"`
	Commit      string `json:"commit"`
	CommitCount int    `json:"commitCount"`
	DirtyFiles  int    `json:"dirtyFiles"`
}

// ErrNotRepository is Prepare's answer for a workspace that holds files
// but no repository when no source was asked for: it is left alone.
var ErrNotRepository = errors.New("gitws: the workspace is not empty and not a git repository")

// baseFile, in the workspace's git directory (per worktree), records the
// base commit and branch: "<sha> <base branch>".
const baseFile = "agentops-base"

// Progress receives a clone's progress: 0–100 over the whole clone.
type Progress func(percent int)

// agentIdentity signs the commits agentops itself makes (the empty root
// commit of a new repository, the work a terminated worktree left).
var agentIdentity = []string{"-c", "user.name=agentops", "-c", "user.email=agentops@localhost"}

// Prepare makes dir the session's workspace as spec says, unless it is one
// already (a restored session), and returns its state. dir must exist and,
// for a clone or a worktree, be empty.
func Prepare(ctx context.Context, dir string, spec Spec, progress Progress) (State, error) {
	if spec.Branch == "" {
		return State{}, errors.New("gitws: no session branch")
	}
	if _, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
		if hasBase(ctx, dir) || (spec.RepoURL == "" && spec.RepoPath == "") {
			return Status(ctx, dir) // set up before: keep it as it is
		}
		// A set-up cut short (the runner stopped in the middle of a
		// clone): the folder was empty before it began, so start again.
		if err := clearDir(dir); err != nil {
			return State{}, fmt.Errorf("gitws: clearing an unfinished workspace: %w", err)
		}
		if spec.RepoPath != "" {
			_, _ = run(ctx, cmd{dir: spec.RepoPath, args: []string{"worktree", "prune"}})
		}
	}
	empty, err := isEmptyDir(dir)
	if err != nil {
		return State{}, fmt.Errorf("gitws: workspace: %w", err)
	}
	switch {
	case !empty && spec.RepoURL == "" && spec.RepoPath == "":
		// An external runner started in a folder of the user's: not ours
		// to turn into a repository.
		return State{}, ErrNotRepository
	case !empty:
		return State{}, fmt.Errorf("gitws: the workspace %s is not empty", dir)
	}
	var base, baseBranch string
	switch {
	case spec.RepoURL != "":
		base, baseBranch, err = clone(ctx, dir, spec, progress)
	case spec.RepoPath != "":
		base, baseBranch, err = addWorktree(ctx, dir, spec)
	default:
		base, baseBranch, err = initEmpty(ctx, dir, spec)
	}
	if err != nil {
		return State{}, err
	}
	if err := writeBase(ctx, dir, base, baseBranch); err != nil {
		return State{}, err
	}
	return Status(ctx, dir)
}

func clone(ctx context.Context, dir string, spec Spec, progress Progress) (base, baseBranch string, err error) {
	var env, secrets []string
	if spec.Token != "" {
		u, perr := url.Parse(spec.RepoURL)
		if perr == nil && (u.Scheme == "https" || u.Scheme == "http") {
			// Scoped to the repository's origin, so a redirect elsewhere
			// does not carry it.
			auth := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + spec.Token))
			env = []string{
				"GIT_CONFIG_COUNT=1",
				"GIT_CONFIG_KEY_0=http." + u.Scheme + "://" + u.Host + "/.extraHeader",
				"GIT_CONFIG_VALUE_0=Authorization: Basic " + auth,
			}
			secrets = []string{spec.Token, auth}
		}
	}
	pw := &progressWriter{fn: func(phase string, pct int) {
		if progress == nil {
			return
		}
		switch {
		case strings.HasPrefix(phase, "receiving"):
			progress(pct * 80 / 100)
		case strings.HasPrefix(phase, "resolving"):
			progress(80 + pct*15/100)
		case strings.HasPrefix(phase, "updating"):
			progress(95 + pct*5/100)
		}
	}}
	_, err = run(ctx, cmd{dir: dir, env: env, secrets: append(secrets, spec.RepoURL+"@"),
		args:   []string{"clone", "--progress", "--no-checkout", "--no-recurse-submodules", "--", spec.RepoURL, "."},
		stderr: pw})
	if err != nil {
		return "", "", scrubURL(err, spec)
	}
	ref := spec.Base
	if ref == "" {
		out, err := run(ctx, cmd{dir: dir, args: []string{"symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD"}})
		if err != nil {
			return "", "", errors.New("gitws: the repository has no default branch to start from; name one in branch")
		}
		ref = strings.TrimPrefix(strings.TrimSpace(out), "origin/")
	}
	base, err = resolveCommit(ctx, dir, "refs/remotes/origin/"+ref)
	if err != nil {
		if base, err = resolveCommit(ctx, dir, ref); err != nil {
			return "", "", fmt.Errorf("gitws: %q names no branch, tag or commit of %s", ref, spec.RepoURL)
		}
	}
	if _, err := run(ctx, cmd{dir: dir, args: []string{"checkout", "--quiet", "--no-track", "-b", spec.Branch, base}}); err != nil {
		return "", "", err
	}
	if progress != nil {
		progress(100)
	}
	return base, ref, nil
}

// scrubURL keeps a token that a user put in the URL itself out of errors
// (CheckRepoURL refuses such URLs; this is the second line).
func scrubURL(err error, spec Spec) error {
	u, perr := url.Parse(spec.RepoURL)
	if perr != nil || u.User == nil {
		return err
	}
	var ge *GitError
	if errors.As(err, &ge) {
		pw, _ := u.User.Password()
		ge.Stderr = scrub(ge.Stderr, []string{pw, u.User.String()})
	}
	return err
}

func addWorktree(ctx context.Context, dir string, spec Spec) (base, baseBranch string, err error) {
	if head, err := resolveCommit(ctx, spec.RepoPath, "refs/heads/"+spec.Branch); err == nil {
		// The branch is there from a set-up cut short: take it up again.
		if _, err := run(ctx, cmd{dir: spec.RepoPath, args: []string{"worktree", "add", "--quiet", "--", dir, spec.Branch}}); err != nil {
			return "", "", err
		}
		return head, spec.Base, nil
	}
	ref := spec.Base
	if ref == "" {
		out, err := run(ctx, cmd{dir: spec.RepoPath, args: []string{"symbolic-ref", "--quiet", "--short", "HEAD"}})
		if err == nil {
			ref = strings.TrimSpace(out)
		} else {
			ref = "HEAD"
		}
	}
	base, err = resolveCommit(ctx, spec.RepoPath, ref)
	if err != nil {
		return "", "", fmt.Errorf("gitws: %q names no commit in %s", ref, spec.RepoPath)
	}
	if _, err := run(ctx, cmd{dir: spec.RepoPath, args: []string{"worktree", "add", "--quiet", "--no-track", "-b", spec.Branch, "--", dir, base}}); err != nil {
		return "", "", err
	}
	return base, ref, nil
}

func initEmpty(ctx context.Context, dir string, spec Spec) (base, baseBranch string, err error) {
	baseBranch = spec.Base
	if baseBranch == "" {
		baseBranch = "main"
	}
	if _, err := run(ctx, cmd{dir: dir, args: []string{"init", "--quiet", "--initial-branch=" + baseBranch}}); err != nil {
		return "", "", err
	}
	// A root commit, so that the base is a commit and every diff has
	// something to compare with.
	args := append(append([]string{}, agentIdentity...), "commit", "--quiet", "--allow-empty", "--no-verify", "-m", "agentops: empty workspace")
	if _, err := run(ctx, cmd{dir: dir, args: args}); err != nil {
		return "", "", err
	}
	if base, err = resolveCommit(ctx, dir, "HEAD"); err != nil {
		return "", "", err
	}
	if _, err := run(ctx, cmd{dir: dir, args: []string{"checkout", "--quiet", "-b", spec.Branch}}); err != nil {
		return "", "", err
	}
	return base, baseBranch, nil
}

func gitDir(ctx context.Context, dir string) (string, error) {
	out, err := run(ctx, cmd{dir: dir, args: []string{"rev-parse", "--absolute-git-dir"}})
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(out), nil
}

func writeBase(ctx context.Context, dir, base, baseBranch string) error {
	gd, err := gitDir(ctx, dir)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(gd, baseFile), []byte(base+" "+baseBranch+"\n"), 0o600)
}

// hasBase reports whether Prepare finished on dir (it records the base
// last).
func hasBase(ctx context.Context, dir string) bool {
	gd, err := gitDir(ctx, dir)
	if err != nil {
		return false
	}
	_, err = os.Stat(filepath.Join(gd, baseFile))
	return err == nil
}

// clearDir removes everything in dir, keeping dir.
func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// readBase returns the recorded base commit and branch; a workspace that
// agentops did not set up gets HEAD's commit recorded as its base.
func readBase(ctx context.Context, dir string) (base, baseBranch string, err error) {
	gd, err := gitDir(ctx, dir)
	if err != nil {
		return "", "", err
	}
	b, err := os.ReadFile(filepath.Join(gd, baseFile))
	if err == nil {
		base, baseBranch, _ = strings.Cut(strings.TrimSpace(string(b)), " ")
		return base, baseBranch, nil
	}
	head, herr := resolveCommit(ctx, dir, "HEAD")
	if herr != nil {
		return "", "", fmt.Errorf("gitws: %s has no base commit", dir)
	}
	return head, "", writeBase(ctx, dir, head, "")
}

// Status reads the workspace's git state.
func Status(ctx context.Context, dir string) (State, error) {
	base, baseBranch, err := readBase(ctx, dir)
	if err != nil {
		return State{}, err
	}
	st := State{BaseCommit: base, BaseBranch: baseBranch}
	if out, err := run(ctx, cmd{dir: dir, args: []string{"symbolic-ref", "--quiet", "--short", "HEAD"}}); err == nil {
		st.Branch = strings.TrimSpace(out)
	}
	if st.Commit, err = resolveCommit(ctx, dir, "HEAD"); err != nil {
		return State{}, err
	}
	out, err := run(ctx, cmd{dir: dir, args: []string{"rev-list", "--count", base + "..HEAD"}})
	if err != nil {
		return State{}, err
	}
	fmt.Sscan(strings.TrimSpace(out), &st.CommitCount)
	out, err = run(ctx, cmd{dir: dir, args: []string{"status", "--porcelain=v1", "-z", "--untracked-files=all"}})
	if err != nil {
		return State{}, err
	}
	recs := strings.Split(out, "\x00")
	for i := 0; i < len(recs); i++ {
		r := recs[i]
		if len(r) < 4 {
			continue
		}
		st.DirtyFiles++
		if r[0] == 'R' || r[0] == 'C' {
			i++ // the source path follows
		}
	}
	return st, nil
}

// RemoveWorktree removes a session's worktree from repoPath, committing
// on the session's branch whatever was left uncommitted so that no work is
// lost, and keeps the branch. A worktree already gone is pruned.
func RemoveWorktree(ctx context.Context, repoPath, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
		if st, err := Status(ctx, dir); err == nil && st.DirtyFiles > 0 && st.Branch != "" {
			if _, err := run(ctx, cmd{dir: dir, args: []string{"add", "--all"}}); err != nil {
				return err
			}
			args := append(append([]string{}, agentIdentity...), "commit", "--quiet", "--no-verify", "-m",
				"agentops: work left uncommitted when the session ended")
			if _, err := run(ctx, cmd{dir: dir, args: args}); err != nil {
				return err
			}
		}
		if _, err := run(ctx, cmd{dir: repoPath, args: []string{"worktree", "remove", "--force", "--", dir}}); err != nil {
			return err
		}
		return nil
	}
	_, err := run(ctx, cmd{dir: repoPath, args: []string{"worktree", "prune"}})
	return err
}

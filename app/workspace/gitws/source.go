// Package gitws makes and reads a session's git workspace with the real
// git binary: a clone of a repository URL, a worktree of a repository on
// this machine, or a new repository; the session's own branch on it; and
// what changed since the base commit (changed files with line counts, and
// unified diffs).
//
// The package imports nothing of the server: the runner uses it to set a
// workspace up and to report on it, the server to check what a session is
// created with and to remove a worktree when the session ends.
//
// Secrets: a token for a clone reaches git only through the environment of
// that one command (GIT_CONFIG_COUNT/KEY/VALUE, see git-config(1)
// "ENVIRONMENT"), never through argv, a config file or the remote URL, and
// every error message is scrubbed of it.
package gitws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// BranchPrefix starts every session branch: agentops/<first 8 characters
// of the session id>.
const BranchPrefix = "agentops/"

// SessionBranch is the branch a session works on.
func SessionBranch(sessionID string) string {
	id := sessionID
	if len(id) > 8 {
		id = id[:8]
	}
	return BranchPrefix + id
}

// ErrInvalid wraps every refusal of bad input (a refused transport, a path
// outside the roots, a branch name git refuses); the server answers 400.
var ErrInvalid = errors.New("gitws: invalid")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// CheckRepoURL accepts what a session may clone from: https:// URLs;
// http:// only to a loopback host (local git servers, tests); file:// URLs
// and absolute paths only under one of roots (checked after resolving
// symbolic links). Every other transport (ssh://, git://, ext::, scp-like
// host:path, …) and URLs with credentials in them are refused.
func CheckRepoURL(raw string, roots []string) error {
	if raw == "" {
		return invalid("repoUrl is empty")
	}
	if strings.HasPrefix(raw, "-") || strings.ContainsAny(raw, "\x00\r\n") {
		return invalid("repoUrl %q is not a URL git may clone", raw)
	}
	if strings.HasPrefix(raw, "/") {
		_, err := UnderRoots(raw, roots)
		return err
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return invalid("repoUrl %q is not a URL: use https://host/owner/repo", raw)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !loopbackHost(u.Hostname()) {
			return invalid("repoUrl %q: http:// is allowed only to a loopback host; use https://", raw)
		}
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return invalid("repoUrl %q: a file:// URL names no host", raw)
		}
		_, err := UnderRoots(u.Path, roots)
		return err
	default:
		return invalid("repoUrl %q: the %s transport is not allowed (https://, http:// to loopback, file:// under the repository roots)", raw, u.Scheme)
	}
	if u.Host == "" {
		return invalid("repoUrl %q has no host", raw)
	}
	if u.User != nil {
		return invalid("repoUrl must not carry credentials; store a github credential instead")
	}
	return nil
}

func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// UnderRoots resolves path (which must be absolute and exist) with its
// symbolic links and returns it if it lies under one of roots (each also
// resolved); otherwise an ErrInvalid. No roots: nothing is accepted.
func UnderRoots(path string, roots []string) (string, error) {
	if len(roots) == 0 {
		return "", invalid("local repositories are off: the server has no --repo-roots")
	}
	if !filepath.IsAbs(path) {
		return "", invalid("%q is not an absolute path", path)
	}
	real, err := filepath.EvalSymlinks(filepath.Clean(path))
	if err != nil {
		return "", invalid("%q does not exist on the server", path)
	}
	for _, root := range roots {
		r, err := filepath.EvalSymlinks(filepath.Clean(root))
		if err != nil {
			continue
		}
		rel, err := filepath.Rel(r, real)
		if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return real, nil
		}
	}
	return "", invalid("%q is not under the server's repository roots (--repo-roots)", path)
}

// CheckBranchName asks git whether name may name a branch or tag (git
// check-ref-format on refs/heads/<name>; "HEAD" is refused as git branch
// does); the error is an ErrInvalid.
func CheckBranchName(ctx context.Context, name string) error {
	if name == "" || name == "HEAD" || name == "@" || strings.HasPrefix(name, "-") || strings.ContainsAny(name, "\x00\r\n") {
		return invalid("%q is not a branch name git accepts", name)
	}
	if _, err := run(ctx, cmd{args: []string{"check-ref-format", "refs/heads/" + name}}); err != nil {
		return invalid("%q is not a branch name git accepts", name)
	}
	return nil
}

// CheckLocalRepo resolves repoPath under roots, checks that it is a git
// repository with a working tree, and that base (when not empty) names a
// commit in it. It returns the resolved path.
func CheckLocalRepo(ctx context.Context, repoPath, base string, roots []string) (string, error) {
	real, err := UnderRoots(repoPath, roots)
	if err != nil {
		return "", err
	}
	top, err := run(ctx, cmd{dir: real, args: []string{"rev-parse", "--show-toplevel"}})
	if err != nil {
		return "", invalid("%q is not a git repository with a working tree", repoPath)
	}
	if t := strings.TrimSpace(top); t != real {
		if rt, err := filepath.EvalSymlinks(t); err != nil || rt != real {
			return "", invalid("%q is inside a repository but not its top level (%s)", repoPath, t)
		}
	}
	if base != "" {
		if _, err := resolveCommit(ctx, real, base); err != nil {
			return "", invalid("%q names no commit in %s", base, repoPath)
		}
	} else if _, err := resolveCommit(ctx, real, "HEAD"); err != nil {
		return "", invalid("%s has no commits to start from", repoPath)
	}
	return real, nil
}

func resolveCommit(ctx context.Context, dir, rev string) (string, error) {
	out, err := run(ctx, cmd{dir: dir, args: []string{"rev-parse", "--verify", "--quiet", "--end-of-options", rev + "^{commit}"}})
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(out), nil
}

// isEmptyDir reports whether dir exists and holds nothing.
func isEmptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if len(names) == 0 && (err == nil || errors.Is(err, os.ErrNotExist) || err.Error() == "EOF") {
		return true, nil
	}
	return false, nil
}

package runner

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner/agent"
	"github.com/agentops/agentops/app/workspace/gitws"
)

// repoSetup is the repo-config a server sent, with the token it carried.
type repoSetup struct {
	cfg   protocol.RepoConfig
	token string
}

// gitWorkspace is the runner's view of the session's git workspace; only
// execLoop touches it.
type gitWorkspace struct {
	ready bool // set up (or found set up): reports and diffs work
	tried bool // a set-up was attempted on this run
}

// progressEvery bounds how often clone progress is sent.
const progressEvery = 250 * time.Millisecond

// setUpWorkspace makes the workspace what the repo-config says, once per
// run: it clones, adds the worktree or initializes a repository (or finds
// it done by an earlier runner), reports progress and the outcome, then
// the git state and changed files. It runs before the ready signal, which
// the connection's init queues behind it.
func (e *executor) setUpWorkspace(ctx context.Context, rs repoSetup) error {
	if e.git.tried {
		return nil
	}
	e.git.tried = true
	dir := e.r.cfg.Workspace
	if dir == "" || rs.cfg.SessionBranch == "" {
		return nil
	}
	cloning := rs.cfg.RepoURL != ""
	var last time.Time
	lastPct := -1
	progress := func(pct int) {
		if pct == lastPct || (pct < 100 && time.Since(last) < progressEvery) {
			return
		}
		last, lastPct = time.Now(), pct
		_ = e.emit(ctx, protocol.RunnerFrame{Type: protocol.RRepoProgress, Phase: "cloning", Progress: &pct})
	}
	if cloning {
		progress(0)
	}
	st, err := gitws.Prepare(ctx, dir, gitws.Spec{
		RepoURL: rs.cfg.RepoURL, Token: rs.token, RepoPath: rs.cfg.RepoPath,
		Base: rs.cfg.Branch, Branch: rs.cfg.SessionBranch,
	}, progress)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, gitws.ErrNotRepository) {
		e.r.log.Info("the workspace is neither empty nor a git repository: no git state to report", "workspace", dir)
		return nil
	}
	ok := err == nil
	done := protocol.RunnerFrame{Type: protocol.RRepoCloneDone, Success: &ok}
	if err != nil {
		done.Error = agent.Truncate(err.Error(), agent.MaxErrorBytes)
		e.r.log.Error("workspace set-up failed", "err", done.Error)
	}
	if err := e.emit(ctx, done); err != nil || !ok {
		return err
	}
	e.git.ready = true
	if err := e.emitGitState(ctx, st); err != nil {
		return err
	}
	return e.reportFiles(ctx)
}

func (e *executor) emitGitState(ctx context.Context, st gitws.State) error {
	n, dirty := st.CommitCount, st.DirtyFiles
	return e.emit(ctx, protocol.RunnerFrame{Type: protocol.RGitState, Branch: st.Branch, BaseBranch: st.BaseBranch,
		BaseCommit: st.BaseCommit, HeadCommit: st.Commit, CommitCount: &n, DirtyFiles: &dirty})
}

// reportGit sends the git state and the changed files (after every turn,
// and after a diff someone asked for).
func (e *executor) reportGit(ctx context.Context) error {
	if !e.git.ready {
		return nil
	}
	st, err := gitws.Status(ctx, e.r.cfg.Workspace)
	if err != nil {
		e.r.log.Warn("reading the git state", "err", err)
		return nil
	}
	if err := e.emitGitState(ctx, st); err != nil {
		return err
	}
	return e.reportFiles(ctx)
}

func (e *executor) reportFiles(ctx context.Context) error {
	files, err := gitws.ChangedFiles(ctx, e.r.cfg.Workspace)
	if err != nil {
		e.r.log.Warn("listing the changed files", "err", err)
		return nil
	}
	out := make([]protocol.ChangedFile, 0, len(files))
	for _, f := range files {
		out = append(out, protocol.ChangedFile(f))
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	err = e.emit(ctx, protocol.RunnerFrame{Type: protocol.RFilesChanged, Files: b})
	if errors.Is(err, ErrFrameTooLarge) {
		e.r.log.Warn("too many changed files for one frame; not reported", "files", len(files))
		return nil
	}
	return err
}

// diff answers a diff request in the background (a large diff takes a
// while; turns and acks go on meanwhile), then refreshes the reports.
func (e *executor) diff(ctx context.Context, requestID, path string) {
	if !e.git.ready {
		e.emitDiff(ctx, requestID, protocol.DiffData{Files: []protocol.DiffFile{}, Error: "the workspace is not a git repository"})
		return
	}
	dir := e.r.cfg.Workspace
	e.wg.Go(func() {
		// The answer must fit one frame: JSON escaping can make the text
		// longer, so a diff that does not fit is cut shorter.
		limit := gitws.DefaultDiffLimit - 64<<10
		for {
			res, err := gitws.Diff(ctx, dir, path, limit)
			data := protocol.DiffData{Files: []protocol.DiffFile{}, Truncated: res.Truncated}
			for _, f := range res.Files {
				data.Files = append(data.Files, protocol.DiffFile(f))
			}
			if err != nil {
				data = protocol.DiffData{Files: []protocol.DiffFile{}, Error: agent.Truncate(err.Error(), agent.MaxErrorBytes)}
			}
			if e.emitDiff(ctx, requestID, data) || limit < 4<<10 {
				break
			}
			limit /= 2
		}
		e.r.inbox.post(command{kind: cmdGitReport})
	})
}

// emitDiff sends a diff answer; false if it was too large for a frame.
func (e *executor) emitDiff(ctx context.Context, requestID string, data protocol.DiffData) bool {
	b, err := json.Marshal(data)
	if err != nil {
		return true
	}
	err = e.emit(ctx, protocol.RunnerFrame{Type: protocol.RDiff, RequestID: requestID, Data: b})
	if errors.Is(err, ErrFrameTooLarge) {
		return false
	}
	if err != nil && ctx.Err() == nil {
		e.r.log.Warn("diff answer not sent", "err", err)
	}
	return true
}

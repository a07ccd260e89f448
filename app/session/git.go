package session

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/workspace/gitws"
	"github.com/agentops/agentops/store"
)

// RepoTokens gives the token a session's runner clones with: the owner's
// github credential (else the org's, for github.com only). Empty: none.
type RepoTokens interface {
	RepoToken(ctx context.Context, userID, repoURL string) (string, error)
}

// RepoInput is where a new session's code comes from (POST /api/sessions).
type RepoInput struct {
	RepoURL  string
	RepoPath string
	Branch   string // the branch or ref to start from
	Ref      string // upstream's name for Branch, honoured the same way

	SourceType         string
	SourcePRNumber     int
	SourceIssueNumber  int
	SourceRepoFullName string
}

// diffTimeout bounds how long GET …/diff waits for the runner.
const diffTimeout = 60 * time.Second

// gitLink is the actor's part for the workspace: the set-up phase browsers
// see, and the requests waiting for the runner's answer (diffs, and the
// commits and pushes of gitops.go, by request id).
type gitLink struct {
	phase    string // "cloning" while the runner sets the workspace up
	progress int
	diffs    map[string]chan diffAnswer
}

type diffAnswer struct {
	data json.RawMessage
	err  error
}

// checkRepo validates a create's repository fields and returns the git
// state row to store with the session.
func (m *Manager) checkRepo(ctx context.Context, in RepoInput) (*store.SessionGitState, error) {
	in.RepoURL, in.RepoPath = strings.TrimSpace(in.RepoURL), strings.TrimSpace(in.RepoPath)
	base := in.Branch
	if base == "" {
		base = in.Ref
	} else if in.Ref != "" && in.Ref != in.Branch {
		return nil, apperr.Invalid("ref", "branch and ref name different bases; give one")
	}
	if in.RepoURL != "" && in.RepoPath != "" {
		return nil, apperr.Invalid("repoPath", "give repoUrl or repoPath, not both")
	}
	switch in.SourceType {
	case "", "pr", "issue", "branch", "manual":
	default:
		return nil, apperr.Invalid("sourceType", "sourceType must be pr, issue, branch or manual")
	}
	invalid := func(field string, err error) error {
		if errors.Is(err, gitws.ErrInvalid) {
			return apperr.Invalid(field, "%s", strings.TrimPrefix(err.Error(), gitws.ErrInvalid.Error()+": "))
		}
		return err
	}
	if base != "" {
		field := "branch"
		if in.Branch == "" {
			field = "ref"
		}
		if err := gitws.CheckBranchName(ctx, base); err != nil {
			return nil, invalid(field, err)
		}
	}
	g := &store.SessionGitState{SourceType: in.SourceType, SourcePRNumber: in.SourcePRNumber,
		SourceIssueNumber: in.SourceIssueNumber, SourceRepoFullName: in.SourceRepoFullName, Ref: base,
		BaseBranch: base, AgentAuthored: true}
	switch {
	case in.RepoURL != "":
		if err := gitws.CheckRepoURL(in.RepoURL, m.cfg.RepoRoots); err != nil {
			return nil, invalid("repoUrl", err)
		}
		g.SourceRepoURL = in.RepoURL
	case in.RepoPath != "":
		if m.sandbox != nil && m.sandbox.Name() != "local" {
			return nil, apperr.Invalid("repoPath", "repoPath needs --sandbox local: the runner is on another machine")
		}
		real, err := gitws.CheckLocalRepo(ctx, in.RepoPath, base, m.cfg.RepoRoots)
		if err != nil {
			return nil, invalid("repoPath", err)
		}
		g.RepoPath = real
	}
	return g, nil
}

// repoConfigFrame is repo-config as upstream sends it (token null when
// there is none) with agentops' fields.
type repoConfigFrame struct {
	Type      string          `json:"type"`
	Token     *string         `json:"token"`
	GitConfig json.RawMessage `json:"gitConfig"`
	*protocol.RepoConfig
}

// repoConfig is the repo-config frame for the session's runner: it goes
// before init, so the runner sets the workspace up before it is ready.
func (a *actor) repoConfig(ctx context.Context) (repoConfigFrame, error) {
	f := repoConfigFrame{Type: protocol.SRepoConfig, GitConfig: json.RawMessage(`{}`)}
	g, err := a.m.st.GitStates().Get(ctx, a.id)
	if errors.Is(err, store.ErrNotFound) {
		return f, nil // a session from before git workspaces, or a workflow's
	}
	if err != nil {
		return f, err
	}
	f.RepoConfig = &protocol.RepoConfig{RepoURL: g.SourceRepoURL, RepoPath: g.RepoPath, Branch: g.Ref,
		SessionBranch: gitws.SessionBranch(a.id)}
	if g.SourceRepoURL != "" && a.m.cfg.RepoTokens != nil && g.HeadCommit == "" {
		// Only until the clone is done: the token has no other use.
		if tok, err := a.m.cfg.RepoTokens.RepoToken(ctx, a.sess.UserID, g.SourceRepoURL); err != nil {
			a.log.Error("open the github credential for the clone", "err", err)
		} else if tok != "" {
			f.Token = &tok
		}
	}
	if g.SourceRepoURL != "" && g.HeadCommit == "" {
		a.git.phase, a.git.progress = "cloning", 0
	}
	return f, nil
}

// onGitFrame applies the runner's workspace frames; it returns the write
// to make and what to do once it is made (see onRunnerFrame).
func (a *actor) onGitFrame(f *protocol.RunnerFrame, now time.Time) (write func(ctx context.Context, tx *store.Store) error, after func()) {
	switch f.Type {
	case protocol.RRepoProgress:
		a.git.phase, a.git.progress = f.Phase, 0
		if f.Progress != nil {
			a.git.progress = *f.Progress
		}
		data := map[string]any{"phase": a.git.phase, "progress": a.git.progress}
		return nil, func() { a.broadcast(statusFrame(data)) }
	case protocol.RRepoCloneDone:
		a.git.phase = ""
		if f.Success != nil && !*f.Success {
			msg := "The workspace could not be set up: " + f.Error
			return nil, func() { a.workspaceFailed(msg) }
		}
		return nil, func() { a.broadcast(statusFrame(map[string]any{"phase": "ready", "progress": 100})) }
	case protocol.RGitState:
		g := &store.SessionGitState{SessionID: a.id, Branch: f.Branch, BaseBranch: f.BaseBranch, BaseCommit: f.BaseCommit,
			HeadCommit: f.HeadCommit, AgentAuthored: true, ReportedAt: now, CreatedAt: now, UpdatedAt: now}
		if f.CommitCount != nil {
			g.CommitCount = *f.CommitCount
		}
		if f.DirtyFiles != nil {
			g.DirtyFiles = *f.DirtyFiles
		}
		data := map[string]any{"branch": g.Branch, "baseBranch": g.BaseBranch, "baseCommit": g.BaseCommit,
			"headCommit": g.HeadCommit, "commitCount": g.CommitCount, "dirtyFiles": g.DirtyFiles}
		return func(ctx context.Context, tx *store.Store) error { return tx.GitStates().Report(ctx, g) },
			func() { a.broadcast(frame(dataFrame{Type: protocol.CGitState, Data: data})) }
	case protocol.RFilesChanged:
		var files []protocol.ChangedFile
		if len(f.Files) > 0 {
			if err := json.Unmarshal(f.Files, &files); err != nil {
				a.sendRunner(protocol.ServerFrame{Type: protocol.SError, Message: "files-changed: files must be a list of {path, status}"})
				return nil, nil
			}
		}
		rows := make([]store.SessionFileChange, 0, len(files))
		seen := map[string]bool{}
		for _, c := range files {
			if c.Path == "" || seen[c.Path] {
				continue
			}
			seen[c.Path] = true
			switch c.Status {
			case gitws.Added, gitws.Modified, gitws.Deleted, gitws.Renamed:
			default:
				c.Status = gitws.Modified
			}
			rows = append(rows, store.SessionFileChange{FilePath: c.Path, OldPath: c.OldPath, Status: c.Status,
				Additions: c.Additions, Deletions: c.Deletions, Binary: c.Binary})
		}
		if files == nil {
			files = []protocol.ChangedFile{}
		}
		return func(ctx context.Context, tx *store.Store) error {
				return tx.GitStates().ReplaceFiles(ctx, a.id, rows, now)
			},
			func() { a.broadcast(frame(map[string]any{"type": protocol.CFilesChanged, "files": files})) }
	case protocol.RGitOp:
		return a.onGitOpResult(f, now)
	case protocol.RDiff:
		data := f.Data
		if len(data) == 0 {
			data = json.RawMessage(`{"files":[],"truncated":false}`)
		}
		if ch, ok := a.git.diffs[f.RequestID]; ok {
			delete(a.git.diffs, f.RequestID)
			ch <- diffAnswer{data: data}
		}
		return nil, func() {
			a.broadcast(frame(map[string]any{"type": protocol.CDiff, "requestId": f.RequestID, "data": data}))
		}
	}
	return nil, nil
}

// workspaceFailed ends a session whose workspace could not be set up: it
// is an error, with git's message (which the runner scrubbed of tokens).
func (a *actor) workspaceFailed(msg string) {
	a.sess.ErrorMessage = msg
	if err := a.end(store.StatusError, "workspace_failed"); err != nil {
		a.log.Error("end a session whose workspace failed", "err", err)
	}
}

// requestDiff asks the runner for the diff; the answer comes on the
// returned channel (buffered).
func (a *actor) requestDiff(path string) (chan diffAnswer, string, error) {
	switch a.sess.Status {
	case store.StatusHibernated, store.StatusHibernating:
		return nil, "", &apperr.Error{Kind: apperr.KindConflict, Code: "SESSION_HIBERNATED",
			Message: "The session is hibernated: wake it (POST /api/sessions/" + a.id + "/wake) to compute its diff"}
	case store.StatusRunning, store.StatusRestoring, store.StatusInitializing:
	default:
		return nil, "", ErrNotActive
	}
	if !a.runner.connected() || !a.runner.ready {
		return nil, "", &apperr.Error{Kind: apperr.KindConflict, Code: "RUNNER_NOT_READY",
			Message: "The session's runner is not ready yet (the workspace may still be cloning); try again shortly"}
	}
	id := uuid.NewString()
	ch := make(chan diffAnswer, 1)
	if a.git.diffs == nil {
		a.git.diffs = map[string]chan diffAnswer{}
	}
	a.git.diffs[id] = ch
	a.sendRunner(protocol.ServerFrame{Type: protocol.SDiff, RequestID: id, Path: path})
	return ch, id, nil
}

// failDiffs answers every waiting diff request with err (the runner went
// away, or the session ended).
func (a *actor) failDiffs(err error) {
	for id, ch := range a.git.diffs {
		ch <- diffAnswer{err: err}
		delete(a.git.diffs, id)
	}
}

// removeWorktree removes a repoPath session's worktree (its branch stays,
// with any uncommitted work committed on it). The runner is stopped.
func (a *actor) removeWorktree(ctx context.Context) {
	g, err := a.m.st.GitStates().Get(ctx, a.id)
	if err != nil || g.RepoPath == "" {
		return
	}
	loc, ok := a.m.sandbox.(interface{ Workspace(string) (string, error) })
	if !ok {
		return
	}
	dir, err := loc.Workspace(a.id)
	if err != nil {
		return
	}
	if err := gitws.RemoveWorktree(ctx, g.RepoPath, dir); err != nil {
		a.log.Error("remove the session's worktree", "repo_path", g.RepoPath, "err", err)
	}
}

// GitState returns what a session the user owns records about its
// repository: nil for a session without one.
func (m *Manager) GitState(ctx context.Context, userID, id string) (*store.SessionGitState, error) {
	if _, err := m.Get(ctx, userID, id); err != nil {
		return nil, err
	}
	g, err := m.st.GitStates().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return g, err
}

// FilesChanged returns the changed files the runner last reported.
func (m *Manager) FilesChanged(ctx context.Context, userID, id string) ([]store.SessionFileChange, error) {
	if _, err := m.Get(ctx, userID, id); err != nil {
		return nil, err
	}
	return m.st.GitStates().Files(ctx, id)
}

// Diff asks the session's runner for the workspace's diff against the
// base commit (of one file when path is not empty) and returns its data
// (protocol.DiffData). A hibernated session is a conflict: its runner is
// stopped.
func (m *Manager) Diff(ctx context.Context, userID, id, path string) (json.RawMessage, error) {
	if _, err := m.Get(ctx, userID, id); err != nil {
		return nil, err
	}
	if strings.ContainsRune(path, 0) || len(path) > 4096 {
		return nil, apperr.Invalid("path", "path must be a file path of the workspace")
	}
	var ch chan diffAnswer
	var reqID string
	err := m.actors.withActor(ctx, id, func(a *actor) (err error) {
		ch, reqID, err = a.requestDiff(path)
		return err
	})
	if errors.Is(err, errGone) {
		return nil, ErrNotActive
	}
	if err != nil {
		return nil, err
	}
	t := time.NewTimer(diffTimeout)
	defer t.Stop()
	var ans diffAnswer
	select {
	case ans = <-ch:
	case <-ctx.Done():
		ans.err = ctx.Err()
	case <-t.C:
		ans.err = &apperr.Error{Kind: apperr.KindUnavailable, Message: "The runner did not answer the diff request in time"}
	}
	if ans.err != nil {
		m.actors.postIfLive(id, func(a *actor) { delete(a.git.diffs, reqID) })
		return nil, ans.err
	}
	return ans.data, nil
}

// browserDiff forwards a browser's diff request; the answer is broadcast.
func (a *actor) browserDiff() error {
	_, _, err := a.requestDiff("")
	return err
}

package runner

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/app/runner/agent"
	"github.com/agentops/agentops/app/workspace/gitws"
)

// gitOp commits or pushes in the workspace, as the server asked, and
// answers with the outcome; then it reports the git state and changed
// files. It runs on the executor, so no turn starts meanwhile (the server
// refuses git operations while one runs).
func (e *executor) gitOp(ctx context.Context, f *protocol.ServerFrame) error {
	res := e.runGitOp(ctx, f)
	if res.Error != "" {
		res.Error = agent.Truncate(res.Error, agent.MaxErrorBytes)
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	if err := e.emit(ctx, protocol.RunnerFrame{Type: protocol.RGitOp, RequestID: f.RequestID, Data: b}); err != nil {
		return err
	}
	return e.reportGit(ctx)
}

func (e *executor) runGitOp(ctx context.Context, f *protocol.ServerFrame) protocol.GitOpResult {
	if !e.git.ready {
		return protocol.GitOpResult{Code: protocol.GitOpNotRepository, Error: "the workspace is not a git repository"}
	}
	dir := e.r.cfg.Workspace
	fail := func(err error) protocol.GitOpResult {
		var ge *gitws.GitError
		switch {
		case errors.Is(err, gitws.ErrNothingToCommit):
			return protocol.GitOpResult{Code: protocol.GitOpNothingToCommit, Error: "nothing to commit: the workspace has no changes"}
		case errors.Is(err, gitws.ErrNoRemote):
			return protocol.GitOpResult{Code: protocol.GitOpNoRemote, Error: "the workspace has no remote to push to (it was not cloned from a repository)"}
		case f.Op == protocol.GitOpPush && errors.As(err, &ge):
			return protocol.GitOpResult{Code: protocol.GitOpRejected, Error: err.Error()}
		}
		return protocol.GitOpResult{Code: protocol.GitOpFailed, Error: err.Error()}
	}
	switch f.Op {
	case protocol.GitOpCommit:
		c, err := gitws.Commit(ctx, dir, f.CommitMessage, f.GitName, f.GitEmail)
		if err != nil {
			return fail(err)
		}
		return protocol.GitOpResult{Commit: &protocol.GitCommit{SHA: c.SHA, Message: c.Message}}
	case protocol.GitOpPush:
		var token string
		if f.Token != nil {
			token = *f.Token
		}
		var remote string
		if f.RepoConfig != nil {
			remote = f.RepoConfig.RepoURL
		}
		p, err := gitws.Push(ctx, dir, remote, token)
		if err != nil {
			return fail(err)
		}
		return protocol.GitOpResult{Push: &protocol.GitPush{Branch: p.Branch, Remote: p.Remote, Commits: p.Commits, Head: p.Head}}
	}
	return protocol.GitOpResult{Code: protocol.GitOpFailed, Error: "unknown git operation " + f.Op}
}

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
	"github.com/agentops/agentops/store"
)

// gitOpTimeout bounds how long a commit or push waits for the runner (a
// push of a large branch over a slow link takes a while).
const gitOpTimeout = 5 * time.Minute

// maxCommitMessage bounds a commit message.
const maxCommitMessage = 64 << 10

// Commit commits everything in the session's workspace with the session
// owner's git name and email, in the runner.
func (m *Manager) Commit(ctx context.Context, userID, id, message string) (protocol.GitCommit, error) {
	if strings.TrimSpace(message) == "" {
		return protocol.GitCommit{}, apperr.Invalid("message", "message is required")
	}
	if len(message) > maxCommitMessage || strings.ContainsRune(message, 0) {
		return protocol.GitCommit{}, apperr.Invalid("message", "message must be text of at most 64 KiB")
	}
	res, err := m.gitOp(ctx, userID, id, protocol.ServerFrame{Op: protocol.GitOpCommit, CommitMessage: message}, "")
	if err != nil {
		return protocol.GitCommit{}, err
	}
	if res.Commit == nil {
		return protocol.GitCommit{}, errors.New("the runner answered a commit without one")
	}
	return *res.Commit, nil
}

// Push pushes the session's branch to the repository it was cloned from,
// with the owner's github token, in the runner. The commits the remote
// did not have count toward the adoption figures.
func (m *Manager) Push(ctx context.Context, userID, id string) (protocol.GitPush, error) {
	sess, err := m.Get(ctx, userID, id)
	if err != nil {
		return protocol.GitPush{}, err
	}
	var token string
	g, err := m.st.GitStates().Get(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return protocol.GitPush{}, err
	}
	if err == nil && g.SourceRepoURL != "" && m.cfg.RepoTokens != nil {
		if token, err = m.cfg.RepoTokens.RepoToken(ctx, sess.UserID, g.SourceRepoURL); err != nil {
			return protocol.GitPush{}, err
		}
	}
	f := protocol.ServerFrame{Op: protocol.GitOpPush}
	if err == nil && g.SourceRepoURL != "" {
		// The URL the session was cloned from, not whatever the agent may
		// have made origin: the token goes only where the clone's went.
		f.RepoConfig = &protocol.RepoConfig{RepoURL: g.SourceRepoURL}
	}
	if token != "" {
		f.Token = &token
	}
	res, err := m.gitOp(ctx, userID, id, f, token)
	if err != nil {
		return protocol.GitPush{}, err
	}
	if res.Push == nil {
		return protocol.GitPush{}, errors.New("the runner answered a push without one")
	}
	return *res.Push, nil
}

// gitOp sends a git-op to the session's runner and waits for its answer;
// token is what the answer's error must not show (the runner scrubs it
// too).
func (m *Manager) gitOp(ctx context.Context, userID, id string, f protocol.ServerFrame, token string) (protocol.GitOpResult, error) {
	if _, err := m.Get(ctx, userID, id); err != nil {
		return protocol.GitOpResult{}, err
	}
	var ch chan diffAnswer
	var reqID string
	err := m.actors.withActor(ctx, id, func(a *actor) (err error) {
		ch, reqID, err = a.requestGitOp(f)
		return err
	})
	if errors.Is(err, errGone) {
		return protocol.GitOpResult{}, ErrNotActive
	}
	if err != nil {
		return protocol.GitOpResult{}, err
	}
	t := time.NewTimer(gitOpTimeout)
	defer t.Stop()
	var ans diffAnswer
	select {
	case ans = <-ch:
	case <-ctx.Done():
		ans.err = ctx.Err()
	case <-t.C:
		ans.err = &apperr.Error{Kind: apperr.KindUnavailable, Message: "The runner did not answer the " + f.Op + " in time"}
	}
	if ans.err != nil {
		m.actors.postIfLive(id, func(a *actor) { delete(a.git.diffs, reqID) })
		return protocol.GitOpResult{}, ans.err
	}
	var res protocol.GitOpResult
	if err := json.Unmarshal(ans.data, &res); err != nil {
		return res, errors.New("the runner's git-op answer is not readable")
	}
	if res.Code != "" || res.Error != "" {
		return res, gitOpError(f.Op, res, token)
	}
	return res, nil
}

// gitOpError turns a failed git operation into the answer's error.
func gitOpError(op string, res protocol.GitOpResult, token string) error {
	msg := res.Error
	if token != "" {
		msg = strings.ReplaceAll(msg, token, "***")
	}
	code := res.Code
	if code == "" {
		code = protocol.GitOpFailed
	}
	if op == protocol.GitOpPush && code == protocol.GitOpRejected && denied(msg) {
		hint := "The github token cannot push to this repository"
		if token == "" {
			hint = "No github token to push with: store one (PUT /api/auth/me/credentials/github)"
		}
		return &apperr.Error{Kind: apperr.KindForbidden, Code: "GITHUB_TOKEN_NO_ACCESS", Message: hint + ": " + msg}
	}
	switch code {
	case protocol.GitOpNothingToCommit:
		msg = "Nothing to commit: the workspace has no changes"
	case protocol.GitOpNoRemote:
		msg = "The workspace has no remote to push to (the session was not started from a repository URL)"
	}
	return &apperr.Error{Kind: apperr.KindConflict, Code: code, Message: msg}
}

// denied tells git's words for an authentication or permission refusal
// over http(s).
func denied(msg string) bool {
	for _, s := range []string{"Authentication failed", "could not read Username", "could not read Password",
		"returned error: 401", "returned error: 403", "returned error: 404", "Permission to", "Repository not found",
		"terminal prompts disabled"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// requestGitOp sends a git-op to the runner; the answer comes on the
// returned channel. Not while a turn runs (the agent still changes
// files), nor while the session is hibernated (no runner).
func (a *actor) requestGitOp(f protocol.ServerFrame) (chan diffAnswer, string, error) {
	switch a.sess.Status {
	case store.StatusHibernated, store.StatusHibernating:
		return nil, "", &apperr.Error{Kind: apperr.KindConflict, Code: "SESSION_HIBERNATED",
			Message: "The session is hibernated: wake it (POST /api/sessions/" + a.id + "/wake) first"}
	case store.StatusRunning, store.StatusRestoring, store.StatusInitializing:
	default:
		return nil, "", ErrNotActive
	}
	if a.sess.RunnerBusy || a.processingCount() > 0 || a.queuedCount() > 0 {
		return nil, "", &apperr.Error{Kind: apperr.KindConflict, Code: "TURN_RUNNING",
			Message: "A turn is running (the agent is still changing files): try again when it ends, or abort it"}
	}
	if !a.runner.connected() || !a.runner.ready {
		return nil, "", &apperr.Error{Kind: apperr.KindConflict, Code: "RUNNER_NOT_READY",
			Message: "The session's runner is not ready yet (the workspace may still be cloning); try again shortly"}
	}
	f.Type = protocol.SGitOp
	f.RequestID = uuid.NewString()
	if a.owner != nil {
		f.GitName, f.GitEmail = a.owner.GitName, a.owner.GitEmail
		if f.GitName == "" {
			f.GitName = a.owner.Name
		}
		if f.GitName == "" {
			f.GitName, _, _ = strings.Cut(a.owner.Email, "@")
		}
		if f.GitEmail == "" {
			f.GitEmail = a.owner.Email
		}
	}
	ch := make(chan diffAnswer, 1)
	if a.git.diffs == nil {
		a.git.diffs = map[string]chan diffAnswer{}
	}
	a.git.diffs[f.RequestID] = ch
	a.sendRunner(f)
	return ch, f.RequestID, nil
}

// onGitOpResult answers a waiting commit or push; a push's commits are
// counted (durably, before the answer).
func (a *actor) onGitOpResult(f *protocol.RunnerFrame, now time.Time) (write func(ctx context.Context, tx *store.Store) error, after func()) {
	var res protocol.GitOpResult
	_ = json.Unmarshal(f.Data, &res)
	deliver := func() {
		if ch, ok := a.git.diffs[f.RequestID]; ok {
			delete(a.git.diffs, f.RequestID)
			ch <- diffAnswer{data: f.Data}
		}
	}
	if res.Push == nil || res.Error != "" {
		return nil, deliver
	}
	commits := res.Push.Commits
	return func(ctx context.Context, tx *store.Store) error {
		err := tx.GitStates().RecordPush(ctx, a.id, commits, now)
		if errors.Is(err, store.ErrNotFound) {
			return nil // a session from before git workspaces: nothing to count on
		}
		return err
	}, deliver
}

// NotifyPullRequest tells the session's browsers about a pull request made
// from it (the pr-created frame).
func (m *Manager) NotifyPullRequest(id string, pr any) {
	m.actors.postIfLive(id, func(a *actor) {
		a.broadcast(frame(map[string]any{"type": protocol.CPRCreated, "pr": pr}))
	})
}

package store

import (
	"context"
	"time"
)

// PR states as agentops records them (GitHub's open and closed, with
// merged told apart from closed).
const (
	PROpen   = "open"
	PRClosed = "closed"
	PRMerged = "merged"
)

// RecordPush adds the commits a push of the session's branch sent to the
// session's count, and stamps the push.
func (r GitStates) RecordPush(ctx context.Context, sessionID string, commits int, at time.Time) error {
	res, err := r.s.w.NewUpdate().Model((*SessionGitState)(nil)).
		Set("pushed_commits = pushed_commits + ?", commits).Set("pushed_at = ?", at).Set("updated_at = ?", at).
		Where("session_id = ?", sessionID).Exec(ctx)
	return affectedOne("record a push", res, err)
}

// PullRequest is a pull request made from a session.
type PullRequest struct {
	Number    int
	Title     string
	State     string
	URL       string
	RepoURL   string // the repository's URL, as the request named it
	CreatedAt time.Time
	MergedAt  time.Time
}

// RecordPR records the pull request made from a session's branch
// (replacing an earlier one).
func (r GitStates) RecordPR(ctx context.Context, sessionID string, pr PullRequest, now time.Time) error {
	res, err := r.s.w.NewUpdate().Model((*SessionGitState)(nil)).
		Set("pr_number = ?", pr.Number).Set("pr_title = ?", pr.Title).Set("pr_state = ?", pr.State).
		Set("pr_url = ?", pr.URL).Set("pr_repo_url = ?", pr.RepoURL).Set("pr_created_at = ?", pr.CreatedAt).
		Set("pr_merged_at = ?", nullTime(pr.MergedAt)).Set("pr_checked_at = ?", now).Set("pr_check_failures = 0").
		Set("updated_at = ?", now).Where("session_id = ?", sessionID).Exec(ctx)
	return affectedOne("record a pull request", res, err)
}

// OpenPR is an open pull request to refresh, with the user whose token
// reads it.
type OpenPR struct {
	SessionID string    `bun:"session_id"`
	UserID    string    `bun:"user_id"`
	RepoURL   string    `bun:"pr_repo_url"`
	Number    int       `bun:"pr_number"`
	CheckedAt time.Time `bun:"pr_checked_at"`
	Failures  int       `bun:"pr_check_failures"`
}

// OpenPRs lists the open pull requests of sessions that are not archived,
// least recently checked first.
func (r GitStates) OpenPRs(ctx context.Context, limit int) ([]OpenPR, error) {
	var out []OpenPR
	err := r.s.r.NewSelect().TableExpr("session_git_state AS g").Join("JOIN sessions AS s ON s.id = g.session_id").
		ColumnExpr("g.session_id, s.user_id, g.pr_repo_url, g.pr_number, g.pr_checked_at, g.pr_check_failures").
		Where("g.pr_number IS NOT NULL").Where("g.pr_state = ?", PROpen).Where("g.pr_repo_url IS NOT NULL").
		Where("s.status <> ?", StatusArchived).
		OrderExpr("g.pr_checked_at ASC, g.session_id ASC").Limit(int64(limit)).Scan(ctx, &out)
	return out, wrap("list open pull requests", err)
}

// UpdatePR stores a refreshed pull request's state, title and merge time.
func (r GitStates) UpdatePR(ctx context.Context, sessionID string, pr PullRequest, now time.Time) error {
	_, err := r.s.w.NewUpdate().Model((*SessionGitState)(nil)).
		Set("pr_state = ?", pr.State).Set("pr_title = ?", pr.Title).Set("pr_url = ?", pr.URL).
		Set("pr_merged_at = ?", nullTime(pr.MergedAt)).Set("pr_checked_at = ?", now).Set("pr_check_failures = 0").
		Set("updated_at = ?", now).Where("session_id = ?", sessionID).Exec(ctx)
	return wrap("update a pull request", err)
}

// PRCheckFailed records a refresh that failed (the backoff grows with the
// failures).
func (r GitStates) PRCheckFailed(ctx context.Context, sessionID string, now time.Time) error {
	_, err := r.s.w.NewUpdate().Model((*SessionGitState)(nil)).
		Set("pr_check_failures = pr_check_failures + 1").Set("pr_checked_at = ?", now).
		Where("session_id = ?", sessionID).Exec(ctx)
	return wrap("record a failed pull request check", err)
}

// Adoption are the figures of GET /api/dashboard/adoption.
type Adoption struct {
	PRsCreated int
	PRsMerged  int
	Commits    int
}

// Adoption counts, from the org's sessions (workflow sessions too: their
// work is an agent's), the agent-authored pull requests created since
// from and how many of them are merged, and the commits their pushes sent
// for sessions that last pushed since from.
func (r GitStates) Adoption(ctx context.Context, from time.Time) (Adoption, error) {
	var a Adoption
	err := r.s.r.NewSelect().TableExpr("session_git_state AS g").
		ColumnExpr("count(*)").ColumnExpr("coalesce(sum(CASE WHEN g.pr_state = ? THEN 1 ELSE 0 END), 0)", PRMerged).
		Where("g.pr_number IS NOT NULL").Where("g.agent_authored").Where("g.pr_created_at >= ?", from).
		Scan(ctx, &a.PRsCreated, &a.PRsMerged)
	if err != nil {
		return a, wrap("adoption: pull requests", err)
	}
	err = r.s.r.NewSelect().TableExpr("session_git_state AS g").ColumnExpr("coalesce(sum(g.pushed_commits), 0)").
		Where("g.pushed_at >= ?", from).Scan(ctx, &a.Commits)
	return a, wrap("adoption: commits", err)
}

// nullTime is t as a query argument: NULL when zero.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

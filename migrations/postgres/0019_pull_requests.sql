-- Commits, pushes and pull requests from a session: how many commits of
-- the session's branch its pushes sent (the adoption figures' "commits by
-- agents") and when it last pushed; the repository of the session's pull
-- request, and when its state was last refreshed from GitHub (with the
-- failures since, for the refresh job's backoff).
ALTER TABLE session_git_state ADD COLUMN pushed_commits INTEGER NOT NULL DEFAULT 0;
ALTER TABLE session_git_state ADD COLUMN pushed_at TIMESTAMPTZ;
ALTER TABLE session_git_state ADD COLUMN pr_repo_url TEXT;
ALTER TABLE session_git_state ADD COLUMN pr_checked_at TIMESTAMPTZ;
ALTER TABLE session_git_state ADD COLUMN pr_check_failures INTEGER NOT NULL DEFAULT 0;
CREATE INDEX session_git_state_pr_state_idx ON session_git_state (pr_state);

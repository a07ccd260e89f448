package store

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// SessionGitState is where a session's code came from (set at create) and
// what its runner last reported about the workspace.
type SessionGitState struct {
	bun.BaseModel `bun:"table:session_git_state"`

	SessionID          string    `bun:"session_id,pk"`
	SourceType         string    `bun:"source_type,nullzero"`
	SourcePRNumber     int       `bun:"source_pr_number,nullzero"`
	SourceIssueNumber  int       `bun:"source_issue_number,nullzero"`
	SourceRepoFullName string    `bun:"source_repo_full_name,nullzero"`
	SourceRepoURL      string    `bun:"source_repo_url,nullzero"`
	RepoPath           string    `bun:"repo_path,nullzero"`
	Ref                string    `bun:"ref,nullzero"`
	Branch             string    `bun:"branch,nullzero"`
	BaseBranch         string    `bun:"base_branch,nullzero"`
	BaseCommit         string    `bun:"base_commit,nullzero"`
	HeadCommit         string    `bun:"head_commit,nullzero"`
	CommitCount        int       `bun:"commit_count,notnull"`
	DirtyFiles         int       `bun:"dirty_files,notnull"`
	PRNumber           int       `bun:"pr_number,nullzero"`
	PRTitle            string    `bun:"pr_title,nullzero"`
	PRState            string    `bun:"pr_state,nullzero"`
	PRURL              string    `bun:"pr_url,nullzero"`
	PRCreatedAt        time.Time `bun:"pr_created_at,nullzero"`
	PRMergedAt         time.Time `bun:"pr_merged_at,nullzero"`
	AgentAuthored      bool      `bun:"agent_authored,notnull"`
	ReportedAt         time.Time `bun:"reported_at,nullzero"`
	PushedCommits      int       `bun:"pushed_commits,notnull"`
	PushedAt           time.Time `bun:"pushed_at,nullzero"`
	PRRepoURL          string    `bun:"pr_repo_url,nullzero"`
	PRCheckedAt        time.Time `bun:"pr_checked_at,nullzero"`
	PRCheckFailures    int       `bun:"pr_check_failures,notnull"`
	CreatedAt          time.Time `bun:"created_at,notnull"`
	UpdatedAt          time.Time `bun:"updated_at,notnull"`
}

// SessionFileChange is one file that differs from a session's base commit.
type SessionFileChange struct {
	bun.BaseModel `bun:"table:session_files_changed"`

	SessionID string    `bun:"session_id,pk"`
	FilePath  string    `bun:"file_path,pk"`
	OldPath   string    `bun:"old_path,nullzero"`
	Status    string    `bun:"status,notnull"`
	Additions int       `bun:"additions,notnull"`
	Deletions int       `bun:"deletions,notnull"`
	Binary    bool      `bun:"is_binary,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
	UpdatedAt time.Time `bun:"updated_at,notnull"`
}

// GitStates is the repository of session git state and changed files.
type GitStates struct{ s *Store }

// GitStates returns the git state repository.
func (s *Store) GitStates() GitStates { return GitStates{s} }

// Create inserts a session's git state (in the transaction that creates
// the session).
func (r GitStates) Create(ctx context.Context, g *SessionGitState) error {
	_, err := r.s.w.NewInsert().Model(g).Exec(ctx)
	return wrap("create git state", err)
}

// Get returns a session's git state; ErrNotFound when it has none (a
// session created before git workspaces, or a workflow session).
func (r GitStates) Get(ctx context.Context, sessionID string) (*SessionGitState, error) {
	g := new(SessionGitState)
	err := r.s.r.NewSelect().Model(g).Where("session_id = ?", sessionID).Scan(ctx)
	return g, wrap("get git state", err)
}

// Report stores what a runner reported (the branch and commit fields, the
// counts); the source fields stay as created. A session without a row
// gets one.
func (r GitStates) Report(ctx context.Context, g *SessionGitState) error {
	_, err := r.s.w.NewInsert().Model(g).On("CONFLICT (session_id) DO UPDATE").
		Set("branch = EXCLUDED.branch").Set("base_branch = EXCLUDED.base_branch").
		Set("base_commit = EXCLUDED.base_commit").Set("head_commit = EXCLUDED.head_commit").
		Set("commit_count = EXCLUDED.commit_count").Set("dirty_files = EXCLUDED.dirty_files").
		Set("reported_at = EXCLUDED.reported_at").Set("updated_at = EXCLUDED.updated_at").Exec(ctx)
	return wrap("report git state", err)
}

// ReplaceFiles makes files the session's changed files: paths no longer
// listed go, listed ones are inserted or updated (keeping when each was
// first seen).
func (r GitStates) ReplaceFiles(ctx context.Context, sessionID string, files []SessionFileChange, now time.Time) error {
	var keep []string
	for i := range files {
		files[i].SessionID = sessionID
		files[i].CreatedAt, files[i].UpdatedAt = now, now
		keep = append(keep, files[i].FilePath)
	}
	q := r.s.w.NewDelete().Model((*SessionFileChange)(nil)).Where("session_id = ?", sessionID)
	if len(keep) > 0 {
		q = q.Where("file_path NOT IN (?)", bun.In(keep))
	}
	if _, err := q.Exec(ctx); err != nil {
		return wrap("replace changed files", err)
	}
	// Bounded batches: SQLite allows 32766 bound values, Postgres 65535.
	const batch = 500
	for i := 0; i < len(files); i += batch {
		part := files[i:min(i+batch, len(files))]
		_, err := r.s.w.NewInsert().Model(&part).On("CONFLICT (session_id, file_path) DO UPDATE").
			Set("old_path = EXCLUDED.old_path").Set("status = EXCLUDED.status").
			Set("additions = EXCLUDED.additions").Set("deletions = EXCLUDED.deletions").
			Set("is_binary = EXCLUDED.is_binary").Set("updated_at = EXCLUDED.updated_at").Exec(ctx)
		if err != nil {
			return wrap("replace changed files", err)
		}
	}
	return nil
}

// Files returns a session's changed files by path.
func (r GitStates) Files(ctx context.Context, sessionID string) ([]SessionFileChange, error) {
	out := []SessionFileChange{}
	err := r.s.r.NewSelect().Model(&out).Where("session_id = ?", sessionID).OrderExpr("file_path ASC").Scan(ctx)
	return out, wrap("list changed files", err)
}

// InsertFile adds one changed file (imports; ReplaceFiles is the runner's
// path).
func (r GitStates) InsertFile(ctx context.Context, f *SessionFileChange) error {
	_, err := r.s.w.NewInsert().Model(f).Exec(ctx)
	return wrap("insert changed file", err)
}

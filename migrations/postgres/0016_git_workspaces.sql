-- Git workspaces: where a session's code came from and what its runner last
-- reported about it (session_git_state, one row per session), and the files
-- that differ from the session's base commit (session_files_changed, one
-- row per file). They replace the JSON columns sessions.git_state and
-- sessions.files_changed, whose contents move here.

CREATE TABLE session_git_state (
    session_id TEXT NOT NULL PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    source_type TEXT,
    source_pr_number INTEGER,
    source_issue_number INTEGER,
    source_repo_full_name TEXT,
    source_repo_url TEXT,
    repo_path TEXT,
    ref TEXT,
    branch TEXT,
    base_branch TEXT,
    base_commit TEXT,
    head_commit TEXT,
    commit_count INTEGER NOT NULL DEFAULT 0,
    dirty_files INTEGER NOT NULL DEFAULT 0,
    pr_number INTEGER,
    pr_title TEXT,
    pr_state TEXT,
    pr_url TEXT,
    pr_created_at TIMESTAMPTZ,
    pr_merged_at TIMESTAMPTZ,
    agent_authored BOOLEAN NOT NULL DEFAULT TRUE,
    reported_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX session_git_state_repo_pr_idx ON session_git_state (source_repo_full_name, pr_number);

CREATE TABLE session_files_changed (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    file_path TEXT NOT NULL,
    old_path TEXT,
    status TEXT NOT NULL,
    additions INTEGER NOT NULL DEFAULT 0,
    deletions INTEGER NOT NULL DEFAULT 0,
    is_binary BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (session_id, file_path)
);

INSERT INTO session_git_state (session_id, branch, base_branch, commit_count, reported_at, created_at, updated_at)
SELECT id, git_state->>'branch', git_state->>'baseBranch',
       coalesce((git_state->>'commitCount')::integer, 0), updated_at, created_at, updated_at
FROM sessions WHERE jsonb_typeof(git_state) = 'object';

INSERT INTO session_files_changed (session_id, file_path, status, additions, deletions, created_at, updated_at)
SELECT s.id, f.value->>'path', coalesce(f.value->>'status', 'modified'),
       coalesce((f.value->>'additions')::integer, 0), coalesce((f.value->>'deletions')::integer, 0),
       s.updated_at, s.updated_at
FROM sessions AS s, jsonb_array_elements(CASE WHEN jsonb_typeof(s.files_changed) = 'array' THEN s.files_changed ELSE '[]'::jsonb END) AS f(value)
WHERE jsonb_typeof(f.value->'path') = 'string'
ON CONFLICT DO NOTHING;

ALTER TABLE sessions DROP COLUMN git_state;
ALTER TABLE sessions DROP COLUMN files_changed;

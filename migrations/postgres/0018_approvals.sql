-- Permission approvals: a session's permission mode (auto: the agent edits
-- and runs commands without asking; ask: each edit or command waits for
-- the owner), and the approvals its agent asked for.
ALTER TABLE sessions ADD COLUMN permission_mode TEXT NOT NULL DEFAULT 'auto';
CREATE TABLE action_invocations (
    id TEXT NOT NULL PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tool_name TEXT NOT NULL,
    args JSONB NOT NULL DEFAULT '{}',
    diff TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    reason TEXT,
    resolved_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    resolved_at TIMESTAMPTZ,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX action_invocations_user_created_idx ON action_invocations (user_id, created_at, id);
CREATE INDEX action_invocations_session_status_idx ON action_invocations (session_id, status);

-- Workflows: definitions (per-user ids and slugs) with their immutable
-- history, triggers (manual, webhook, schedule), executions with their step
-- trace, and the claim table that makes each schedule tick fire once.
--
-- A workflow's id is chosen by its client and unique per user; uid is the
-- row's own key, which triggers and executions reference. Webhook paths are
-- globally unique (their own column), since /webhooks/<path> names no user.
-- Step traces are ordered by an explicit seq, never by rowid.

CREATE TABLE workflows (
    uid TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    slug TEXT,
    name TEXT NOT NULL,
    description TEXT,
    version TEXT NOT NULL DEFAULT '1.0.0',
    data JSONB NOT NULL,
    workflow_hash TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    tags JSONB NOT NULL DEFAULT '[]',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX workflows_user_id_key ON workflows (user_id, id);
CREATE UNIQUE INDEX workflows_user_slug_key ON workflows (user_id, slug);

CREATE TABLE workflow_versions (
    id TEXT NOT NULL PRIMARY KEY,
    workflow_uid TEXT NOT NULL REFERENCES workflows (uid) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    version TEXT NOT NULL,
    name TEXT NOT NULL,
    workflow_hash TEXT NOT NULL,
    workflow_data JSONB NOT NULL,
    source TEXT NOT NULL,
    notes TEXT,
    created_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX workflow_versions_seq_key ON workflow_versions (workflow_uid, seq);
CREATE INDEX workflow_versions_hash_idx ON workflow_versions (workflow_uid, workflow_hash);

CREATE TABLE workflow_triggers (
    id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workflow_uid TEXT NOT NULL REFERENCES workflows (uid) ON DELETE CASCADE,
    name TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    type TEXT NOT NULL,
    config JSONB NOT NULL,
    webhook_path TEXT,
    -- sealed with the instance keyring
    webhook_secret TEXT,
    variable_mapping JSONB,
    last_run_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX workflow_triggers_webhook_path_key ON workflow_triggers (webhook_path);
CREATE INDEX workflow_triggers_user_idx ON workflow_triggers (user_id, created_at);
CREATE INDEX workflow_triggers_type_idx ON workflow_triggers (type, enabled);
CREATE INDEX workflow_triggers_workflow_idx ON workflow_triggers (workflow_uid);

CREATE TABLE workflow_executions (
    id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workflow_uid TEXT REFERENCES workflows (uid) ON DELETE SET NULL,
    workflow_id TEXT NOT NULL,
    workflow_name TEXT NOT NULL,
    workflow_version TEXT NOT NULL,
    workflow_hash TEXT NOT NULL,
    workflow_snapshot JSONB NOT NULL,
    trigger_id TEXT REFERENCES workflow_triggers (id) ON DELETE SET NULL,
    trigger_type TEXT NOT NULL,
    trigger_metadata JSONB,
    variables JSONB NOT NULL DEFAULT '{}',
    status TEXT NOT NULL,
    idempotency_key TEXT,
    session_id TEXT REFERENCES sessions (id) ON DELETE SET NULL,
    attempt_count INTEGER NOT NULL DEFAULT 0,
    dispatched_at TIMESTAMPTZ,
    resume_token TEXT,
    resume_step_id TEXT,
    resume_attempt INTEGER NOT NULL DEFAULT 0,
    approval_prompt TEXT,
    approval_requested_at TIMESTAMPTZ,
    decision TEXT,
    outputs JSONB,
    error TEXT,
    started_at TIMESTAMPTZ NOT NULL,
    completed_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX workflow_executions_idempotency_key ON workflow_executions (user_id, idempotency_key);
CREATE INDEX workflow_executions_user_started_idx ON workflow_executions (user_id, started_at, id);
CREATE INDEX workflow_executions_workflow_started_idx ON workflow_executions (workflow_uid, started_at, id);
CREATE INDEX workflow_executions_status_idx ON workflow_executions (status, user_id);
CREATE INDEX workflow_executions_session_idx ON workflow_executions (session_id);

CREATE TABLE workflow_execution_steps (
    id TEXT NOT NULL PRIMARY KEY,
    execution_id TEXT NOT NULL REFERENCES workflow_executions (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    step_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL,
    workflow_step_index INTEGER,
    input JSONB,
    output JSONB,
    error TEXT,
    started_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX workflow_execution_steps_step_key ON workflow_execution_steps (execution_id, step_id, attempt);
CREATE UNIQUE INDEX workflow_execution_steps_seq_key ON workflow_execution_steps (execution_id, seq);

CREATE TABLE workflow_schedule_ticks (
    trigger_id TEXT NOT NULL REFERENCES workflow_triggers (id) ON DELETE CASCADE,
    tick TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (trigger_id, tick)
);
CREATE INDEX workflow_schedule_ticks_created_idx ON workflow_schedule_ticks (created_at);

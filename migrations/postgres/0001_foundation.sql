-- Foundation: instance metadata, users, login sessions, API tokens, invites,
-- failed login attempts. Types follow the conventions in ARCHITECTURE.md:
-- TIMESTAMPTZ, BOOLEAN and JSONB are native. Unique keys are named indexes
-- so that the parity test can compare them with SQLite.

CREATE TABLE instance_meta (
    key TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    id TEXT NOT NULL PRIMARY KEY,
    email TEXT NOT NULL,
    name TEXT,
    avatar_url TEXT,
    password_hash TEXT,
    role TEXT NOT NULL DEFAULT 'member',
    git_name TEXT,
    git_email TEXT,
    onboarding_completed BOOLEAN NOT NULL DEFAULT FALSE,
    idle_timeout_seconds INTEGER NOT NULL DEFAULT 900,
    sandbox_cpu_cores DOUBLE PRECISION,
    sandbox_memory_mib INTEGER,
    model_preferences JSONB,
    ui_queue_mode TEXT NOT NULL DEFAULT 'followup',
    timezone TEXT,
    identity_provider TEXT NOT NULL DEFAULT 'email',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_role_idx ON users (role);

CREATE TABLE auth_sessions (
    id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL,
    provider TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX auth_sessions_token_hash_key ON auth_sessions (token_hash);
CREATE INDEX auth_sessions_user_id_idx ON auth_sessions (user_id);
CREATE INDEX auth_sessions_expires_at_idx ON auth_sessions (expires_at);

CREATE TABLE api_tokens (
    id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    prefix TEXT NOT NULL,
    scopes JSONB NOT NULL DEFAULT '[]',
    last_used_at TIMESTAMPTZ,
    expires_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX api_tokens_token_hash_key ON api_tokens (token_hash);
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id, created_at);

CREATE TABLE invites (
    id TEXT NOT NULL PRIMARY KEY,
    code TEXT NOT NULL,
    email TEXT,
    role TEXT NOT NULL DEFAULT 'member',
    invited_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    accepted_at TIMESTAMPTZ,
    accepted_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX invites_code_key ON invites (code);
CREATE INDEX invites_email_idx ON invites (email);

CREATE TABLE login_failures (
    id TEXT NOT NULL PRIMARY KEY,
    email TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_failures_email_idx ON login_failures (email, created_at);

-- Sessions: the session row (with the state its actor must keep across a
-- restart), the transcript (messages with an explicit per-session sequence;
-- parts as JSON) and the prompt queue.

CREATE TABLE sessions (
    id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workspace TEXT NOT NULL,
    title TEXT,
    status TEXT NOT NULL DEFAULT 'initializing',
    purpose TEXT NOT NULL DEFAULT 'interactive',
    agent TEXT NOT NULL,
    persona_id TEXT,
    sandbox_id TEXT,
    runner_token_hash TEXT,
    runner_seq BIGINT NOT NULL DEFAULT 0,
    runner_busy BOOLEAN NOT NULL DEFAULT 0,
    models JSONTEXT,
    git_state JSONTEXT,
    files_changed JSONTEXT,
    error_message TEXT,
    last_active_at TIMESTAMP NOT NULL,
    running_started_at TIMESTAMP,
    ended_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX sessions_user_created_idx ON sessions (user_id, created_at, id);
CREATE INDEX sessions_status_idx ON sessions (status);

CREATE TABLE messages (
    id TEXT NOT NULL PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL DEFAULT '',
    parts JSONTEXT NOT NULL DEFAULT '[]',
    turn_id TEXT,
    author_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    author_email TEXT,
    author_name TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX messages_session_seq_key ON messages (session_id, seq);

CREATE TABLE prompt_queue (
    id TEXT NOT NULL PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',
    priority INTEGER NOT NULL DEFAULT 0,
    content TEXT NOT NULL,
    model TEXT,
    author_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    author_email TEXT,
    author_name TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX prompt_queue_session_seq_key ON prompt_queue (session_id, seq);
CREATE INDEX prompt_queue_order_idx ON prompt_queue (session_id, status, priority, seq);

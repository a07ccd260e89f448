-- Credentials (provider keys of users and of the org, sealed with the
-- instance keyring) and notifications (the user's inbox).

-- A credential is one provider key of one owner: a user (user_id set,
-- owner = 'user:<id>') or the org (user_id NULL, owner = 'org'). sealed is
-- keyring.Seal's "v1:<key id>:<base64>" over the secret; key_id repeats
-- the key id so that a rotation finds what it must re-seal.
CREATE TABLE credentials (
    id TEXT NOT NULL PRIMARY KEY,
    owner TEXT NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    credential_type TEXT NOT NULL DEFAULT 'api_key',
    sealed TEXT NOT NULL,
    key_id TEXT NOT NULL,
    base_url TEXT,
    models JSONTEXT,
    set_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX credentials_owner_provider_key ON credentials (owner, provider);
CREATE INDEX credentials_user_id_idx ON credentials (user_id);
CREATE INDEX credentials_key_id_idx ON credentials (key_id);

CREATE TABLE notifications (
    id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    message_type TEXT NOT NULL DEFAULT 'notification',
    event_type TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL,
    read BOOLEAN NOT NULL DEFAULT 0,
    context_session_id TEXT REFERENCES sessions (id) ON DELETE SET NULL,
    context_execution_id TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX notifications_user_created_idx ON notifications (user_id, created_at, id);
CREATE INDEX notifications_user_read_idx ON notifications (user_id, read);

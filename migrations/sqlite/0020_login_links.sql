-- One-time login links: an admin gives one to a user who has no password
-- (imported from upstream, where they signed in with GitHub or Google, or
-- one who forgot it). Stored as the SHA-256 of the token; used once.
CREATE TABLE login_links (
    id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE UNIQUE INDEX login_links_token_hash_key ON login_links (token_hash);
CREATE INDEX login_links_user_id_idx ON login_links (user_id);

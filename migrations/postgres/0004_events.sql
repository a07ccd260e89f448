-- The user event bus. Each user has one stream: an epoch (a random id that
-- names this stream's lifetime, so an id from another database or another
-- lifetime is recognized) and the last sequence number given out. Events
-- are kept for a while (the newest per user, for some days) so that any
-- replica can resume a stream from Last-Event-ID; pruning only ever removes
-- a prefix of a user's sequence, so a gap means "too old".

CREATE TABLE user_event_streams (
    user_id TEXT NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    epoch TEXT NOT NULL,
    last_seq BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE user_events (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    type TEXT NOT NULL,
    session_id TEXT,
    data JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, seq)
);
CREATE INDEX user_events_created_at_idx ON user_events (created_at);

-- Short-lived tickets for clients that cannot send headers (EventSource):
-- the SHA-256 of the ticket, the credential it was issued under (checked
-- again on every use), and the stream that holds it (holder, held_until).
CREATE TABLE event_tickets (
    token_hash TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_session_id TEXT REFERENCES auth_sessions (id) ON DELETE CASCADE,
    api_token_id TEXT REFERENCES api_tokens (id) ON DELETE CASCADE,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    holder TEXT,
    held_until TIMESTAMPTZ
);
CREATE INDEX event_tickets_expires_at_idx ON event_tickets (expires_at);
CREATE INDEX event_tickets_user_id_idx ON event_tickets (user_id);

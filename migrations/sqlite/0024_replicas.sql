-- min-release: 0017
-- Several replicas on one database (docs/deploy.md, "Several replicas").
-- replicas: every serve process, the URL the others reach it at and its
-- heartbeat. session_leases: the one replica that runs a session's actor,
-- with an epoch that grows on every acquisition and fences the writes of
-- a stale owner. Its first line is the rolling-upgrade rule's declaration
-- (store/migrate.go): releases from 0017 on can run on this schema.

CREATE TABLE replicas (
    id TEXT NOT NULL PRIMARY KEY,
    advertise_url TEXT NOT NULL,
    release TEXT NOT NULL,
    draining BOOLEAN NOT NULL DEFAULT 0,
    started_at TIMESTAMP NOT NULL,
    heartbeat_at TIMESTAMP NOT NULL
);

CREATE TABLE session_leases (
    session_id TEXT NOT NULL PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    owner_replica_id TEXT,
    epoch BIGINT NOT NULL,
    acquired_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX session_leases_owner ON session_leases (owner_replica_id);
CREATE INDEX session_leases_expires ON session_leases (expires_at);

-- Seconds a session's sandbox ran, summed over the running periods that
-- ended (upstream's active_seconds); the current period starts at
-- running_started_at.
ALTER TABLE sessions ADD COLUMN active_seconds BIGINT NOT NULL DEFAULT 0;

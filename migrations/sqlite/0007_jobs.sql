-- Durable one-shot jobs (jobs.Scheduler.ScheduleAt): they survive restarts
-- and failover, and a claim with a lease makes sure one replica runs each.

CREATE TABLE scheduled_jobs (
    id TEXT NOT NULL PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '',
    -- A caller's key: scheduling the same key again replaces nothing and
    -- returns the existing job.
    dedupe_key TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    run_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 5,
    last_error TEXT,
    claimed_by TEXT,
    claimed_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX scheduled_jobs_dedupe_key ON scheduled_jobs (dedupe_key);
CREATE INDEX scheduled_jobs_status_run_at_idx ON scheduled_jobs (status, run_at);

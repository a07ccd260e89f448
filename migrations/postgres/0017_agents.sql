-- The agent's own session (or thread) id, so that a restarted or external
-- runner resumes it; token usage on assistant messages.
ALTER TABLE sessions ADD COLUMN agent_session_id TEXT;
ALTER TABLE messages ADD COLUMN usage JSONB;

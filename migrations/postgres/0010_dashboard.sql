-- Dashboard: counters that the message writes keep, so that the dashboard
-- sums columns of the sessions it counts instead of joining transcripts.
-- Each message counts its tool calls; each session counts its user and
-- assistant messages and their tool calls. Existing rows are backfilled.

ALTER TABLE messages ADD COLUMN tool_call_count INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET tool_call_count = (
    SELECT count(*) FROM jsonb_array_elements(messages.parts) AS p WHERE p->>'type' = 'tool-call'
) WHERE jsonb_typeof(parts) = 'array' AND parts::text LIKE '%tool-call%';

ALTER TABLE sessions ADD COLUMN message_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN tool_call_count INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET
    message_count = (SELECT count(*) FROM messages AS m WHERE m.session_id = sessions.id AND m.role IN ('user', 'assistant')),
    tool_call_count = (SELECT coalesce(sum(m.tool_call_count), 0) FROM messages AS m WHERE m.session_id = sessions.id);

-- The org-wide figures read sessions by creation time.
CREATE INDEX sessions_created_idx ON sessions (created_at);

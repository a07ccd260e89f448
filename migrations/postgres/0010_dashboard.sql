-- Dashboard: each message counts its tool calls (written with the message,
-- so that the dashboard sums a column instead of parsing JSON), and the
-- org-wide figures scan sessions and messages by creation time.

ALTER TABLE messages ADD COLUMN tool_call_count INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET tool_call_count = (
    SELECT count(*) FROM jsonb_array_elements(messages.parts) AS p WHERE p->>'type' = 'tool-call'
) WHERE jsonb_typeof(parts) = 'array' AND parts::text LIKE '%tool-call%';

CREATE INDEX sessions_created_idx ON sessions (created_at);
CREATE INDEX messages_created_idx ON messages (created_at);

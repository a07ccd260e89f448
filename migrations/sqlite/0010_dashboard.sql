-- Dashboard: each message counts its tool calls (written with the message,
-- so that the dashboard sums a column instead of parsing JSON), and the
-- org-wide figures scan sessions and messages by creation time.

ALTER TABLE messages ADD COLUMN tool_call_count INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET tool_call_count = (
    SELECT count(*) FROM json_each(messages.parts) WHERE json_extract(json_each.value, '$.type') = 'tool-call'
) WHERE json_type(parts) = 'array' AND parts LIKE '%tool-call%';

CREATE INDEX sessions_created_idx ON sessions (created_at);
CREATE INDEX messages_created_idx ON messages (created_at);

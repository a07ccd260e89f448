-- Sessions II: what the actor needs to arm its deadlines after a restart,
-- the queue mode, collected prompts, and the questions agents ask.

ALTER TABLE sessions ADD COLUMN queue_mode TEXT NOT NULL DEFAULT 'followup';
ALTER TABLE sessions ADD COLUMN runner_lost_at TIMESTAMPTZ;
ALTER TABLE sessions ADD COLUMN runner_respawns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN last_dispatched_at TIMESTAMPTZ;

-- A collected prompt's user message is written when it is collected; the
-- merged prompt that is dispatched later must not write another.
ALTER TABLE prompt_queue ADD COLUMN transcript_written BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE interactive_prompts (
    id TEXT NOT NULL PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    type TEXT NOT NULL DEFAULT 'question',
    question_id TEXT NOT NULL,
    message_id TEXT,
    text TEXT NOT NULL,
    options JSONB NOT NULL DEFAULT '[]',
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX interactive_prompts_session_question_key ON interactive_prompts (session_id, question_id);
CREATE INDEX interactive_prompts_expires_idx ON interactive_prompts (expires_at);

-- An answered question keeps its answer until the turn that asked it ends,
-- so a runner that reconnects in between gets it again.
ALTER TABLE interactive_prompts ADD COLUMN answer JSONTEXT;

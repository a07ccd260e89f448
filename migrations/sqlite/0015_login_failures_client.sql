-- Failed logins count per email and client address, so that a stranger who
-- knows an email locks out only themselves.
ALTER TABLE login_failures ADD COLUMN client_addr TEXT NOT NULL DEFAULT '';
DROP INDEX login_failures_email_idx;
CREATE INDEX login_failures_email_client_idx ON login_failures (email, client_addr, created_at);

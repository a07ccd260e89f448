-- A running count of each user's unpinned memory files, kept in the same
-- transaction as the files themselves, so that a write checks the cap
-- without counting every file the user has.
CREATE TABLE memory_usage (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    unpinned_files INTEGER NOT NULL DEFAULT 0
);
INSERT INTO memory_usage (user_id, unpinned_files)
    SELECT user_id, count(*) FROM memory_files WHERE NOT pinned GROUP BY user_id;

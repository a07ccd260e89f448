-- Memory: per-user, path-addressed memory files, and the full-text index
-- the search provider (search/fts5.go) keeps beside them. The index is
-- written in the same transaction as the file (store/memory.go).
--
-- search_* tables belong to the search provider and differ by dialect on
-- purpose (FTS5 here, tsvector + GIN on Postgres); the schema parity test
-- leaves them out.

CREATE TABLE memory_files (
    id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL,
    relevance REAL NOT NULL DEFAULT 1.0,
    pinned BOOLEAN NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    last_accessed_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX memory_files_user_path_key ON memory_files (user_id, path);
CREATE INDEX memory_files_evict_idx ON memory_files (user_id, pinned, relevance, last_accessed_at);

-- A document of the FTS5 index: an explicit INTEGER PRIMARY KEY, because
-- an implicit rowid may change on VACUUM (upstream joined on it), and the
-- text the snippet is cut from (the FTS5 table holds no text).
CREATE TABLE search_fts_rows (
    id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    content TEXT NOT NULL
);
CREATE UNIQUE INDEX search_fts_rows_doc_key ON search_fts_rows (doc_id);

-- Words are split, folded and prefixed with the owner's key in Go
-- (search/tokens.go), so each user's terms sort together and a query,
-- prefix terms included, reads only its owner's doclists. path, title
-- and content are ranked 5 / 10 / 1 by bm25.
CREATE VIRTUAL TABLE search_fts USING fts5(
    path, title, content,
    content = '', contentless_delete = 1, tokenize = 'ascii'
);

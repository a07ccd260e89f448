-- Memory: per-user, path-addressed memory files, and the full-text index
-- the search provider (search/postgres.go) keeps beside them. The index is
-- written in the same transaction as the file (store/memory.go).
--
-- search_* tables belong to the search provider and differ by dialect on
-- purpose (FTS5 on SQLite, tsvector + GIN here); the schema parity test
-- leaves them out.

CREATE TABLE memory_files (
    id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL,
    relevance DOUBLE PRECISION NOT NULL DEFAULT 1.0,
    pinned BOOLEAN NOT NULL DEFAULT FALSE,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    last_accessed_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX memory_files_user_path_key ON memory_files (user_id, path);
CREATE INDEX memory_files_evict_idx ON memory_files (user_id, pinned, relevance, last_accessed_at);

-- One row per document: the text the snippet is cut from and the weighted
-- vector (title A, path B, content C). GIN answers selective terms; the
-- (user_id) index answers terms so common that one user's documents are
-- fewer than the matches.
CREATE TABLE search_tsv (
    doc_id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    title TEXT NOT NULL,
    content TEXT NOT NULL,
    tsv TSVECTOR NOT NULL
);
CREATE INDEX search_tsv_user_idx ON search_tsv (user_id, path);
CREATE INDEX search_tsv_gin_idx ON search_tsv USING GIN (tsv);

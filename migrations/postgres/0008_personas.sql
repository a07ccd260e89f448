-- Personas: named sets of instruction files that a session passes to its
-- agent (plugin-content's personas). Shared personas are visible to every
-- user, private ones to their creator; at most one is the default.

CREATE TABLE personas (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    description TEXT,
    icon TEXT,
    default_model TEXT,
    visibility TEXT NOT NULL DEFAULT 'shared',
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    created_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX personas_slug_key ON personas (slug);
CREATE INDEX personas_created_by_idx ON personas (created_by);

CREATE TABLE persona_files (
    id TEXT NOT NULL PRIMARY KEY,
    persona_id TEXT NOT NULL REFERENCES personas (id) ON DELETE CASCADE,
    filename TEXT NOT NULL,
    content TEXT NOT NULL,
    sort_order INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX persona_files_persona_filename_key ON persona_files (persona_id, filename);

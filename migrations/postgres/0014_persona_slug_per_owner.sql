-- Persona slugs are unique per owner, not across users: a 409 must not tell
-- one user that another has a private persona with that slug.
DROP INDEX personas_slug_key;
CREATE UNIQUE INDEX personas_created_by_slug_key ON personas (created_by, slug);

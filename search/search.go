// Package search is full-text search over per-user documents (memory
// files): one Provider interface with an SQLite FTS5 implementation and a
// Postgres tsvector + GIN one, and the query parser that turns any user
// string into a query both engines accept.
//
// A provider keeps its own index tables (search_* in the migrations) and
// takes the database handle on every call, so that Index and Remove run
// in the caller's transaction: the index changes with the row it indexes.
// It knows nothing of the app; store wires it to the dialect.
package search

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/uptrace/bun"
)

// Doc is one document to index.
type Doc struct {
	ID      string // unique across the index
	UserID  string // the owner: queries see only their owner's documents
	Path    string
	Title   string
	Content string
}

func (d Doc) cleaned() Doc {
	d.Path, d.Title, d.Content = clean(d.Path), clean(d.Title), clean(d.Content)
	return d
}

// Query is one search.
type Query struct {
	UserID string
	// Text is the user's query, any string: terms are prefix matches,
	// ANDed (with an OR retry when nothing matches), "quoted phrases"
	// match exactly and -term excludes. See Parse.
	Text string
	// PathPrefix limits the search to documents whose path starts with it
	// (empty: all).
	PathPrefix string
	// Limit bounds the hits (1..MaxLimit; 0 means DefaultLimit).
	Limit int
}

// Query limits.
const (
	DefaultLimit = 20
	MaxLimit     = 200
)

// Hit is one matching document.
type Hit struct {
	DocID string
	Path  string
	// Snippet is the best-matching line with up to two lines around it.
	Snippet string
	// Relevance is in [0, 1]: the engine's score squashed to (0, 1), plus
	// 0.2 when a query word occurs in the path, capped at 1.
	Relevance float64
}

// Provider indexes and searches documents. db is the handle to run on:
// pass the transaction that writes the indexed row.
type Provider interface {
	// Name is "fts5" or "postgres".
	Name() string
	// Index adds d, or replaces the document with d.ID.
	Index(ctx context.Context, db bun.IDB, d Doc) error
	// IndexNew adds documents that are not in the index yet, in as few
	// statements as the engine allows (bulk loads).
	IndexNew(ctx context.Context, db bun.IDB, docs []Doc) error
	// Remove drops documents by id; unknown ids are ignored.
	Remove(ctx context.Context, db bun.IDB, docIDs ...string) error
	// Clear empties the index (before it is rebuilt from its documents).
	Clear(ctx context.Context, db bun.IDB) error
	// Search returns the best hits, best first. Any text is valid: a
	// query that parses to no terms has no hits.
	Search(ctx context.Context, db bun.IDB, q Query) ([]Hit, error)
}

// clean makes a caller's string safe to bind: valid UTF-8 and no NUL
// (bun interpolates arguments into the statement text, and a NUL there
// ends SQLite's statement early; Postgres text cannot hold one).
func clean(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.ReplaceAll(s, "\x00", "")
}

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}

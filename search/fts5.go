package search

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/uptrace/bun"
)

// FTS5 is the SQLite provider: an FTS5 table over (owner, path, title,
// content) with the porter stemmer, ranked by bm25 with the weights
// path 5, title 10, content 1 (owner 0). Its rows are keyed by
// search_fts_rows, whose explicit integer key survives VACUUM.
//
// Every document carries one owner token; a query is
// `owner : "<token>" AND <the user's terms on path, title and content>`,
// so FTS5 intersects the user's short doclist with the terms' instead of
// ranking every user's matches.
type FTS5 struct{}

// NewFTS5 returns the SQLite provider.
func NewFTS5() *FTS5 { return &FTS5{} }

func (*FTS5) Name() string { return "fts5" }

// ownerToken is the user's token: hex keeps it one token for unicode61,
// and the trailing digit keeps the porter stemmer off it.
func ownerToken(userID string) string { return "o" + hex.EncodeToString([]byte(userID)) + "0" }

func (*FTS5) Index(ctx context.Context, db bun.IDB, d Doc) error {
	d = d.cleaned()
	var row int64
	err := db.NewRaw("SELECT id FROM search_fts_rows WHERE doc_id = ?", d.ID).Scan(ctx, &row)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if err := db.NewRaw("INSERT INTO search_fts_rows (doc_id, user_id) VALUES (?, ?) RETURNING id", d.ID, d.UserID).
			Scan(ctx, &row); err != nil {
			return fmt.Errorf("index %s: %w", d.ID, err)
		}
	case err != nil:
		return fmt.Errorf("index %s: %w", d.ID, err)
	default:
		if _, err := db.ExecContext(ctx, "DELETE FROM search_fts WHERE rowid = ?", row); err != nil {
			return fmt.Errorf("index %s: %w", d.ID, err)
		}
		if _, err := db.NewRaw("UPDATE search_fts_rows SET user_id = ? WHERE id = ?", d.UserID, row).Exec(ctx); err != nil {
			return fmt.Errorf("index %s: %w", d.ID, err)
		}
	}
	_, err = db.NewRaw("INSERT INTO search_fts (rowid, owner, path, title, content) VALUES (?, ?, ?, ?, ?)",
		row, ownerToken(d.UserID), d.Path, d.Title, d.Content).Exec(ctx)
	if err != nil {
		return fmt.Errorf("index %s: %w", d.ID, err)
	}
	return nil
}

// IndexNew inserts each document with two statements: SQLite runs in
// process, so batching saves little and RETURNING of a multi-row insert
// does not promise an order.
func (p *FTS5) IndexNew(ctx context.Context, db bun.IDB, docs []Doc) error {
	for _, d := range docs {
		d = d.cleaned()
		var row int64
		if err := db.NewRaw("INSERT INTO search_fts_rows (doc_id, user_id) VALUES (?, ?) RETURNING id", d.ID, d.UserID).
			Scan(ctx, &row); err != nil {
			return fmt.Errorf("index %s: %w", d.ID, err)
		}
		if _, err := db.NewRaw("INSERT INTO search_fts (rowid, owner, path, title, content) VALUES (?, ?, ?, ?, ?)",
			row, ownerToken(d.UserID), d.Path, d.Title, d.Content).Exec(ctx); err != nil {
			return fmt.Errorf("index %s: %w", d.ID, err)
		}
	}
	return nil
}

func (*FTS5) Remove(ctx context.Context, db bun.IDB, docIDs ...string) error {
	if len(docIDs) == 0 {
		return nil
	}
	var rows []int64
	if err := db.NewRaw("SELECT id FROM search_fts_rows WHERE doc_id IN (?)", bun.In(docIDs)).Scan(ctx, &rows); err != nil {
		return fmt.Errorf("unindex: %w", err)
	}
	if len(rows) == 0 {
		return nil
	}
	if _, err := db.NewRaw("DELETE FROM search_fts WHERE rowid IN (?)", bun.In(rows)).Exec(ctx); err != nil {
		return fmt.Errorf("unindex: %w", err)
	}
	if _, err := db.NewRaw("DELETE FROM search_fts_rows WHERE id IN (?)", bun.In(rows)).Exec(ctx); err != nil {
		return fmt.Errorf("unindex: %w", err)
	}
	return nil
}

// fts5Cols restricts the user's terms to the searchable columns.
const fts5Cols = "{path title content}"

// fts5Quote makes one FTS5 string: words are letters and digits only, but
// quote doubling keeps this safe whatever it is given.
func fts5Quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func fts5Term(t Term, prefix bool) string {
	if t.Phrase {
		return fts5Quote(strings.Join(t.Words, " "))
	}
	star := ""
	if prefix {
		star = "*"
	}
	parts := make([]string, len(t.Words))
	for i, w := range t.Words {
		parts[i] = fts5Quote(w) + star
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, " AND ") + ")"
}

// fts5Match builds the MATCH expression for a user's parsed query; op
// joins the required terms (AND, or OR on the retry); prefix makes bare
// words prefix matches.
func fts5Match(userID string, p Parsed, op string, prefix bool) string {
	pos := make([]string, len(p.Pos))
	for i, t := range p.Pos {
		pos[i] = fts5Term(t, prefix)
	}
	expr := fts5Cols + " : (" + strings.Join(pos, " "+op+" ") + ")"
	if len(p.Neg) > 0 {
		neg := make([]string, len(p.Neg))
		for i, t := range p.Neg {
			neg[i] = fts5Term(t, true)
		}
		expr = "(" + expr + ") NOT (" + fts5Cols + " : (" + strings.Join(neg, " OR ") + "))"
	}
	return "owner : " + fts5Quote(ownerToken(userID)) + " AND (" + expr + ")"
}

type scored struct {
	DocID   string  `bun:"doc_id"`
	Path    string  `bun:"path"`
	Content string  `bun:"content"`
	Score   float64 `bun:"score"`
}

// Search finds whole words first and prefixes only when that leaves room
// under the limit: FTS5 answers a prefix term by merging the doclists of
// every matching term of every user before it intersects them with the
// owner's, which costs time in proportion to the word's frequency over
// the whole index, while a whole word's doclist is walked lazily, seeking
// to the owner's rows. The porter stemmer already makes whole words
// match their inflections (deploys, deploying → deploy).
func (*FTS5) Search(ctx context.Context, db bun.IDB, q Query) ([]Hit, error) {
	p := Parse(q.Text)
	if p.Empty() {
		return nil, nil
	}
	limit := clampLimit(q.Limit)
	hasBare := false
	for _, t := range p.Pos {
		hasBare = hasBare || !t.Phrase
	}
	run := func(op string, prefix bool) ([]scored, error) {
		var rows []scored
		sel := db.NewRaw(`SELECT r.doc_id, search_fts.path, search_fts.content, -bm25(search_fts, 0.0, 5.0, 10.0, 1.0) AS score
			FROM search_fts JOIN search_fts_rows AS r ON r.id = search_fts.rowid
			WHERE search_fts MATCH ? AND r.user_id = ?`+pathFilter("search_fts.path", q.PathPrefix)+`
			ORDER BY score DESC LIMIT ?`, fts5Args(fts5Match(q.UserID, p, op, prefix), q.UserID, q.PathPrefix, limit)...)
		if err := sel.Scan(ctx, &rows); err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
		return rows, nil
	}
	search := func(op string) ([]scored, error) {
		rows, err := run(op, false)
		if err != nil || len(rows) >= limit || !hasBare {
			return rows, err
		}
		more, err := run(op, true)
		if err != nil {
			return nil, err
		}
		seen := make(map[string]bool, len(rows))
		for _, r := range rows {
			seen[r.DocID] = true
		}
		for _, r := range more {
			if len(rows) < limit && !seen[r.DocID] {
				rows = append(rows, r)
			}
		}
		return rows, nil
	}
	rows, err := search("AND")
	if err == nil && len(rows) == 0 && len(p.Pos) > 1 {
		rows, err = search("OR")
	}
	if err != nil {
		return nil, err
	}
	return hits(rows, p), nil
}

// pathFilter is the optional path prefix condition (LIKE with the prefix
// escaped, so % and _ in it are literal).
func pathFilter(column, prefix string) string {
	if prefix == "" {
		return ""
	}
	return " AND " + column + ` LIKE ? ESCAPE '\'`
}

func fts5Args(match, userID, prefix string, limit int) []any {
	args := []any{match, userID}
	if prefix != "" {
		args = append(args, likePrefix(clean(prefix)))
	}
	return append(args, limit)
}

func likePrefix(prefix string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(prefix) + "%"
}

// hits turns scored rows into hits, best first by relevance (the path
// boost may reorder the engine's ranking).
func hits(rows []scored, p Parsed) []Hit {
	words := p.PosWords()
	out := make([]Hit, len(rows))
	for i, r := range rows {
		out[i] = Hit{DocID: r.DocID, Path: r.Path, Snippet: Snippet(r.Content, words), Relevance: relevance(r.Score, r.Path, words)}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Relevance > out[j].Relevance })
	return out
}

package search

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/uptrace/bun"
)

// FTS5 is the SQLite provider: a contentless FTS5 table over (path,
// title, content), ranked by bm25 with the weights path 5, title 10,
// content 1. Its rows are keyed by search_fts_rows, whose explicit
// integer key survives VACUUM and which keeps the text for snippets.
//
// FTS5's own tokenizers would put every user's words into shared
// doclists, and FTS5 answers a prefix term by merging the doclists of
// every matching term before it can intersect them with anything: a
// common prefix would cost time in proportion to its frequency over the
// whole index. So words are tokenized here instead, each prefixed with
// the owner's key (tokens.go): a query, prefix terms included, reads only
// its owner's doclists. Stemming is done at query time: a bare word
// matches as a prefix of its stem (stemPrefix).
type FTS5 struct{}

// NewFTS5 returns the SQLite provider.
func NewFTS5() *FTS5 { return &FTS5{} }

func (*FTS5) Name() string { return "fts5" }

// insert adds a document under the given row id (0: a new row).
func (*FTS5) insert(ctx context.Context, db bun.IDB, row int64, d Doc) error {
	if row == 0 {
		if err := db.NewRaw("INSERT INTO search_fts_rows (doc_id, user_id, path, content) VALUES (?, ?, ?, ?) RETURNING id",
			d.ID, d.UserID, d.Path, d.Content).Scan(ctx, &row); err != nil {
			return fmt.Errorf("index %s: %w", d.ID, err)
		}
	} else if _, err := db.NewRaw("UPDATE search_fts_rows SET user_id = ?, path = ?, content = ? WHERE id = ?",
		d.UserID, d.Path, d.Content, row).Exec(ctx); err != nil {
		return fmt.Errorf("index %s: %w", d.ID, err)
	}
	key := userKey(d.UserID)
	if _, err := db.NewRaw("INSERT INTO search_fts (rowid, path, title, content) VALUES (?, ?, ?, ?)",
		row, tokenText(key, d.Path), tokenText(key, d.Title), tokenText(key, d.Content)).Exec(ctx); err != nil {
		return fmt.Errorf("index %s: %w", d.ID, err)
	}
	return nil
}

func (p *FTS5) Index(ctx context.Context, db bun.IDB, d Doc) error {
	d = d.cleaned()
	var row int64
	err := db.NewRaw("SELECT id FROM search_fts_rows WHERE doc_id = ?", d.ID).Scan(ctx, &row)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		row = 0
	case err != nil:
		return fmt.Errorf("index %s: %w", d.ID, err)
	default:
		if _, err := db.ExecContext(ctx, "DELETE FROM search_fts WHERE rowid = ?", row); err != nil {
			return fmt.Errorf("index %s: %w", d.ID, err)
		}
	}
	return p.insert(ctx, db, row, d)
}

// IndexNew inserts each document with two statements: SQLite runs in
// process, so batching saves little, and RETURNING of a multi-row insert
// does not promise an order.
func (p *FTS5) IndexNew(ctx context.Context, db bun.IDB, docs []Doc) error {
	for _, d := range docs {
		if err := p.insert(ctx, db, 0, d.cleaned()); err != nil {
			return err
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

// Clear empties the index: the row table, and the contentless FTS5 table
// through its 'delete-all' command (https://sqlite.org/fts5.html#the_delete_all_command).
func (*FTS5) Clear(ctx context.Context, db bun.IDB) error {
	if _, err := db.ExecContext(ctx, "DELETE FROM search_fts_rows"); err != nil {
		return fmt.Errorf("clear index: %w", err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO search_fts (search_fts) VALUES ('delete-all')"); err != nil {
		return fmt.Errorf("clear index: %w", err)
	}
	return nil
}

// fts5Quote makes one FTS5 string: tokens are hex and letters and
// digits, but quote doubling keeps this safe whatever it is given.
func fts5Quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// fts5Term renders a term for the user with key: a phrase as its exact
// words in order, a bare token as each word's stem prefix, all required.
func fts5Term(key string, t Term) string {
	if t.Phrase {
		toks := make([]string, len(t.Words))
		for i, w := range t.Words {
			toks[i] = key + w
		}
		return fts5Quote(strings.Join(toks, " "))
	}
	parts := make([]string, len(t.Words))
	for i, w := range t.Words {
		parts[i] = fts5Quote(key+stemPrefix(w)) + "*"
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, " AND ") + ")"
}

// fts5Match builds the MATCH expression of a user's parsed query; op
// joins the required terms (AND, or OR on the retry).
func fts5Match(userID string, p Parsed, op string) string {
	key := userKey(userID)
	pos := make([]string, len(p.Pos))
	for i, t := range p.Pos {
		pos[i] = fts5Term(key, t)
	}
	expr := "(" + strings.Join(pos, " "+op+" ") + ")"
	if len(p.Neg) > 0 {
		neg := make([]string, len(p.Neg))
		for i, t := range p.Neg {
			neg[i] = fts5Term(key, t)
		}
		expr = "(" + expr + " NOT (" + strings.Join(neg, " OR ") + "))"
	}
	return expr
}

type scored struct {
	DocID   string  `bun:"doc_id"`
	Path    string  `bun:"path"`
	Content string  `bun:"content"`
	Score   float64 `bun:"score"`
}

func (*FTS5) Search(ctx context.Context, db bun.IDB, q Query) ([]Hit, error) {
	p := Parse(q.Text)
	if p.Empty() {
		return nil, nil
	}
	limit := clampLimit(q.Limit)
	run := func(op string) ([]scored, error) {
		var rows []scored
		args := []any{fts5Match(q.UserID, p, op), q.UserID}
		if q.PathPrefix != "" {
			args = append(args, likePrefix(clean(q.PathPrefix)))
		}
		args = append(args, limit)
		err := db.NewRaw(`SELECT r.doc_id, r.path, r.content, -bm25(search_fts, 5.0, 10.0, 1.0) AS score
			FROM search_fts JOIN search_fts_rows AS r ON r.id = search_fts.rowid
			WHERE search_fts MATCH ? AND r.user_id = ?`+pathFilter("r.path", q.PathPrefix)+`
			ORDER BY score DESC LIMIT ?`, args...).Scan(ctx, &rows)
		if err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
		return rows, nil
	}
	rows, err := run("AND")
	if err == nil && len(rows) == 0 && len(p.Pos) > 1 {
		rows, err = run("OR")
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

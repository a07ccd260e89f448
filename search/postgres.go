package search

import (
	"context"
	"fmt"
	"strings"

	"github.com/uptrace/bun"
)

// Postgres is the Postgres provider: a tsvector per document with the
// title weighted A, the path B and the content C ('english' stemming), a
// GIN index, and ts_rank with weights 1.0 / 0.5 / 0.1.
//
// Queries are built from SQL functions with every word a bound argument
// (to_tsquery on a word of letters and digits with :*, phraseto_tsquery
// on a phrase), so no user string reaches the tsquery parser as syntax.
type Postgres struct{}

// NewPostgres returns the Postgres provider.
func NewPostgres() *Postgres { return &Postgres{} }

func (*Postgres) Name() string { return "postgres" }

// pathText spreads a path into words for to_tsvector, whose parser would
// otherwise keep "notes/todo.md" as one file-name token.
func pathText(p string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '/', '.', '-', '_':
			return ' '
		}
		return r
	}, p)
}

// tsvWeights are ts_rank's weights for {D, C, B, A}: content (C) 0.1,
// path (B) 0.5, title (A) 1.0.
const tsvWeights = "'{0.1, 0.1, 0.5, 1.0}'"

func (*Postgres) Index(ctx context.Context, db bun.IDB, d Doc) error {
	d = d.cleaned()
	_, err := db.NewRaw(`INSERT INTO search_tsv (doc_id, user_id, path, title, content, tsv)
		VALUES (?, ?, ?, ?, ?, setweight(to_tsvector('english', ?), 'A') ||
			setweight(to_tsvector('english', ?), 'B') || setweight(to_tsvector('english', ?), 'C'))
		ON CONFLICT (doc_id) DO UPDATE SET user_id = EXCLUDED.user_id, path = EXCLUDED.path,
			title = EXCLUDED.title, content = EXCLUDED.content, tsv = EXCLUDED.tsv`,
		d.ID, d.UserID, d.Path, d.Title, d.Content, Fold(d.Title), Fold(pathText(d.Path)), Fold(d.Content)).Exec(ctx)
	if err != nil {
		return fmt.Errorf("index %s: %w", d.ID, err)
	}
	return nil
}

// IndexNew inserts the documents with one multi-row statement per 500.
func (*Postgres) IndexNew(ctx context.Context, db bun.IDB, docs []Doc) error {
	const batch = 500
	for len(docs) > 0 {
		n := min(batch, len(docs))
		var sb strings.Builder
		sb.WriteString("INSERT INTO search_tsv (doc_id, user_id, path, title, content, tsv) VALUES ")
		args := make([]any, 0, n*8)
		for i, d := range docs[:n] {
			d = d.cleaned()
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(`(?, ?, ?, ?, ?, setweight(to_tsvector('english', ?), 'A') ||
				setweight(to_tsvector('english', ?), 'B') || setweight(to_tsvector('english', ?), 'C'))`)
			args = append(args, d.ID, d.UserID, d.Path, d.Title, d.Content, Fold(d.Title), Fold(pathText(d.Path)), Fold(d.Content))
		}
		if _, err := db.NewRaw(sb.String(), args...).Exec(ctx); err != nil {
			return fmt.Errorf("index %d documents: %w", n, err)
		}
		docs = docs[n:]
	}
	return nil
}

func (*Postgres) Remove(ctx context.Context, db bun.IDB, docIDs ...string) error {
	if len(docIDs) == 0 {
		return nil
	}
	if _, err := db.NewRaw("DELETE FROM search_tsv WHERE doc_id IN (?)", bun.In(docIDs)).Exec(ctx); err != nil {
		return fmt.Errorf("unindex: %w", err)
	}
	return nil
}

// Clear empties the index.
func (*Postgres) Clear(ctx context.Context, db bun.IDB) error {
	if _, err := db.ExecContext(ctx, "DELETE FROM search_tsv"); err != nil {
		return fmt.Errorf("clear index: %w", err)
	}
	return nil
}

// pgTerm appends the tsquery expression of t and its arguments.
func pgTerm(t Term, args []any) (string, []any) {
	if t.Phrase {
		return "phraseto_tsquery('english', ?)", append(args, strings.Join(t.Words, " "))
	}
	parts := make([]string, len(t.Words))
	for i, w := range t.Words {
		parts[i] = "to_tsquery('english', ?)"
		args = append(args, w+":*")
	}
	if len(parts) == 1 {
		return parts[0], args
	}
	return "(" + strings.Join(parts, " && ") + ")", args
}

// pgQuery builds the tsquery expression of a parsed query; op joins the
// required terms ("&&", or "||" on the retry).
func pgQuery(p Parsed, op string) (string, []any) {
	var args []any
	pos := make([]string, len(p.Pos))
	for i, t := range p.Pos {
		pos[i], args = pgTerm(t, args)
	}
	expr := "(" + strings.Join(pos, " "+op+" ") + ")"
	if len(p.Neg) > 0 {
		neg := make([]string, len(p.Neg))
		for i, t := range p.Neg {
			neg[i], args = pgTerm(t, args)
		}
		expr = "(" + expr + " && !!(" + strings.Join(neg, " || ") + "))"
	}
	return expr, args
}

func (*Postgres) Search(ctx context.Context, db bun.IDB, q Query) ([]Hit, error) {
	p := Parse(q.Text)
	if p.Empty() {
		return nil, nil
	}
	limit := clampLimit(q.Limit)
	run := func(op string) ([]scored, error) {
		expr, args := pgQuery(p, op)
		args = append(args, q.UserID)
		if q.PathPrefix != "" {
			args = append(args, likePrefix(clean(q.PathPrefix)))
		}
		args = append(args, limit)
		var rows []scored
		// ts_rank normalization 1 divides by 1 + log(document length),
		// as bm25 discounts long documents.
		err := db.NewRaw(`SELECT d.doc_id, d.path, d.content, ts_rank(`+tsvWeights+`, d.tsv, qq.q, 1) * 10 AS score
			FROM search_tsv AS d, (SELECT `+expr+` AS q) AS qq
			WHERE d.user_id = ? AND d.tsv @@ qq.q`+pathFilter("d.path", q.PathPrefix)+`
			ORDER BY score DESC LIMIT ?`, args...).Scan(ctx, &rows)
		if err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
		return rows, nil
	}
	rows, err := run("&&")
	if err == nil && len(rows) == 0 && len(p.Pos) > 1 {
		rows, err = run("||")
	}
	if err != nil {
		return nil, err
	}
	return hits(rows, p), nil
}

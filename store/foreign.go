package store

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/uptrace/bun"
)

// A foreign SQLite database: another program's data that an importer
// reads (upstream's D1 export). It is opened read-only when it is a
// database file; a .sql dump is first loaded into a scratch database.

// ForeignDB is a read-only handle on a foreign SQLite database.
type ForeignDB struct {
	DB      *sql.DB
	cleanup func()
}

// Close closes the database and removes a scratch copy.
func (f *ForeignDB) Close() error {
	err := f.DB.Close()
	if f.cleanup != nil {
		f.cleanup()
	}
	return err
}

var sqliteMagic = []byte("SQLite format 3\x00")

// ErrTruncatedDump means a .sql dump ends inside a statement.
var ErrTruncatedDump = errors.New("the dump ends in the middle of a statement: it is truncated (export it again)")

// OpenForeignSQLite opens path, a SQLite database file or a SQL text dump
// (`wrangler d1 export` writes one), for reading. A dump is executed into
// a scratch database under scratchDir (removed by Close); a dump that
// does not end with a complete statement is ErrTruncatedDump, and one
// whose statements fail is refused with the failing statement's error.
func OpenForeignSQLite(ctx context.Context, path, scratchDir string) (*ForeignDB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	head := make([]byte, len(sqliteMagic))
	n, _ := io.ReadFull(f, head)
	f.Close()
	if n == len(sqliteMagic) && bytes.Equal(head, sqliteMagic) {
		db, err := sql.Open("sqlite3", "file:"+path+"?"+url.Values{"mode": {"ro"}, "_query_only": {"true"}}.Encode())
		if err != nil {
			return nil, err
		}
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		var check string
		if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&check); err != nil || check != "ok" {
			db.Close()
			if err == nil {
				err = errors.New(check)
			}
			return nil, fmt.Errorf("%s is not a sound SQLite database (truncated or damaged?): %w", path, err)
		}
		return &ForeignDB{DB: db}, nil
	}
	dir, err := os.MkdirTemp(scratchDir, "import-")
	if err != nil {
		return nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	dbPath := filepath.Join(dir, "source.db")
	db, err := sql.Open("sqlite3", "file:"+dbPath)
	if err != nil {
		cleanup()
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if err := loadDump(ctx, db, path); err != nil {
		db.Close()
		cleanup()
		return nil, err
	}
	return &ForeignDB{DB: db, cleanup: cleanup}, nil
}

// loadDump executes a SQL dump statement by statement in one
// transaction. Statements are split at semicolons outside quotes.
func loadDump(ctx context.Context, db *sql.DB, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return err
	}
	r := bufio.NewReaderSize(f, 1<<20)
	var stmt strings.Builder
	var quote rune
	line := 1
	startLine := 1
	exec := func() error {
		s := strings.TrimSpace(stmt.String())
		stmt.Reset()
		if s == "" || s == ";" {
			return nil
		}
		upper := strings.ToUpper(s)
		// The dump's own transaction control is replaced by ours, and
		// PRAGMAs (defer_foreign_keys) concern D1, not the copy.
		if strings.HasPrefix(upper, "BEGIN") || strings.HasPrefix(upper, "COMMIT") || strings.HasPrefix(upper, "PRAGMA") {
			return nil
		}
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("dump statement at line %d: %w", startLine, err)
		}
		return nil
	}
	for {
		c, _, err := r.ReadRune()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
		if stmt.Len() == 0 && (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
			if c == '\n' {
				line++
			}
			continue
		}
		if stmt.Len() == 0 {
			startLine = line
		}
		stmt.WriteRune(c)
		switch {
		case c == '\n':
			line++
			// A "-- comment" line outside quotes ends at the newline.
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"' || c == '`':
			quote = c
		case c == '-' && strings.HasSuffix(stmt.String(), "--"):
			rest, _ := r.ReadString('\n')
			line++
			s := stmt.String()
			stmt.Reset()
			stmt.WriteString(s[:len(s)-2])
			_ = rest
		case c == ';':
			if err := exec(); err != nil {
				_, _ = conn.ExecContext(ctx, "ROLLBACK")
				return err
			}
		}
	}
	if strings.TrimSpace(stmt.String()) != "" || quote != 0 {
		_, _ = conn.ExecContext(ctx, "ROLLBACK")
		return fmt.Errorf("%s: %w", path, ErrTruncatedDump)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return err
	}
	return nil
}

// ExistingIDs returns which of values already appear in column of a
// registered table (an importer skips those rows).
func (s *Store) ExistingIDs(ctx context.Context, table, column string, values []string) (map[string]bool, error) {
	known := false
	for _, t := range tables {
		known = known || t.Name == table
	}
	if !known {
		return nil, fmt.Errorf("existing ids: %s is not a registered table", table)
	}
	out := map[string]bool{}
	const chunk = 500
	for i := 0; i < len(values); i += chunk {
		part := values[i:min(i+chunk, len(values))]
		var found []string
		err := s.w.NewSelect().TableExpr(quoteIdent(s.w, table)).ColumnExpr(quoteIdent(s.w, column)).
			Where(quoteIdent(s.w, column)+" IN (?)", bun.In(part)).Scan(ctx, &found)
		if err != nil {
			return nil, wrap("existing ids in "+table, err)
		}
		for _, v := range found {
			out[v] = true
		}
	}
	return out, nil
}

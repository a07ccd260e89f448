package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/schema"
)

// Kind is a column's type as both dialects share it.
type Kind string

// The column kinds of the schema.
const (
	KindText      Kind = "text"
	KindInteger   Kind = "integer"
	KindReal      Kind = "real"
	KindBoolean   Kind = "boolean"
	KindTimestamp Kind = "timestamp"
	KindJSON      Kind = "json"
	KindBytes     Kind = "bytes"
)

// KindOf maps a declared column type of either dialect (SQLite's
// declaration, Postgres' information_schema data_type) to its kind; ok is
// false for a type the schema does not use.
func KindOf(declared string) (Kind, bool) {
	switch strings.ToLower(strings.TrimSpace(declared)) {
	case "text", "character varying":
		return KindText, true
	case "integer", "bigint", "int", "smallint":
		return KindInteger, true
	case "real", "double precision":
		return KindReal, true
	case "boolean":
		return KindBoolean, true
	case "timestamp", "timestamp with time zone":
		return KindTimestamp, true
	case "jsontext", "jsonb":
		return KindJSON, true
	case "blob", "bytea":
		return KindBytes, true
	}
	return "", false
}

// Column is one column of a table.
type Column struct {
	Name string
	Kind Kind
}

// TableInfo is a registered table as one database has it: its columns in
// declaration order and its primary key, by which rows are read in
// batches.
type TableInfo struct {
	Name    string
	Columns []Column
	Key     []int // indexes into Columns, in key order
	order   []int // Columns by name, for the canonical form
}

// Row is one row's values in column order, in one Go type per kind
// whatever the dialect: string, int64, float64, bool, time.Time (UTC, to
// the microsecond), string (JSON text), []byte; nil for NULL.
type Row []any

// KeyOf returns the primary key values of r.
func (t TableInfo) KeyOf(r Row) []any {
	out := make([]any, len(t.Key))
	for i, k := range t.Key {
		out[i] = r[k]
	}
	return out
}

// Describe reads the columns and primary key of table from the database.
func (s *Store) Describe(ctx context.Context, table string) (TableInfo, error) {
	return describe(ctx, s.r, s.dialect, table)
}

func describe(ctx context.Context, db bun.IDB, d Dialect, table string) (TableInfo, error) {
	t := TableInfo{Name: table}
	type pk struct{ pos, col int }
	var pks []pk
	var q string
	if d == Postgres {
		q = `SELECT c.column_name, c.data_type, COALESCE(k.ordinal_position, 0)
			FROM information_schema.columns c
			LEFT JOIN (SELECT kcu.column_name, kcu.ordinal_position
				FROM information_schema.table_constraints tc
				JOIN information_schema.key_column_usage kcu
					ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema
				WHERE tc.table_schema = current_schema() AND tc.table_name = ? AND tc.constraint_type = 'PRIMARY KEY') k
				ON k.column_name = c.column_name
			WHERE c.table_schema = current_schema() AND c.table_name = ?
			ORDER BY c.ordinal_position`
	} else {
		q = `SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid`
	}
	args := []any{table}
	if d == Postgres {
		args = append(args, table)
	}
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return t, fmt.Errorf("describe %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, typ string
		var pos int
		if err := rows.Scan(&name, &typ, &pos); err != nil {
			return t, fmt.Errorf("describe %s: %w", table, err)
		}
		kind, ok := KindOf(typ)
		if !ok {
			return t, fmt.Errorf("describe %s: column %s has type %s, which agentops does not know how to copy", table, name, typ)
		}
		if pos > 0 {
			pks = append(pks, pk{pos, len(t.Columns)})
		}
		t.Columns = append(t.Columns, Column{Name: name, Kind: kind})
	}
	if err := rows.Err(); err != nil {
		return t, fmt.Errorf("describe %s: %w", table, err)
	}
	if len(t.Columns) == 0 {
		return t, fmt.Errorf("describe %s: no such table", table)
	}
	if len(pks) == 0 {
		return t, fmt.Errorf("describe %s: the table has no primary key, so its rows cannot be read in batches", table)
	}
	sort.Slice(pks, func(i, j int) bool { return pks[i].pos < pks[j].pos })
	for _, p := range pks {
		t.Key = append(t.Key, p.col)
	}
	t.order = t.sortedColumns()
	return t, nil
}

// Snapshot reads registered tables from one consistent state of the
// database: writes committed after it began are not seen. On SQLite (WAL)
// and Postgres it blocks no writer.
type Snapshot struct {
	tx      bun.Tx
	dialect Dialect
}

// BeginSnapshot starts a read-only snapshot. Close it.
func (s *Store) BeginSnapshot(ctx context.Context) (*Snapshot, error) {
	opts := &sql.TxOptions{}
	if s.dialect == Postgres {
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	tx, err := s.rdb.BeginTx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("begin snapshot: %w", err)
	}
	if s.dialect == SQLite {
		// A whole-table read in key order visits the rows in random
		// rowid order: a large page cache (per connection, this one's)
		// keeps it off the disk.
		if _, err := tx.ExecContext(ctx, "PRAGMA cache_size = -131072"); err != nil {
			tx.Rollback() //nolint:errcheck // the pragma's error is the one to report
			return nil, fmt.Errorf("begin snapshot: %w", err)
		}
	}
	// SQLite takes its snapshot at the first read, so read now.
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		tx.Rollback() //nolint:errcheck // the read error is the one to report
		return nil, fmt.Errorf("begin snapshot: %w", err)
	}
	return &Snapshot{tx: tx, dialect: s.dialect}, nil
}

// Close ends the snapshot.
func (sn *Snapshot) Close() error { return sn.tx.Rollback() }

// Describe reads a table's columns as the snapshot sees them.
func (sn *Snapshot) Describe(ctx context.Context, table string) (TableInfo, error) {
	return describe(ctx, sn.tx, sn.dialect, table)
}

// Count returns the number of rows of a table.
func (sn *Snapshot) Count(ctx context.Context, table string) (int64, error) {
	var n int64
	err := sn.tx.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteIdent(sn.tx, table)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	return n, nil
}

// AppliedVersions returns the migration versions recorded in the snapshot.
func (sn *Snapshot) AppliedVersions(ctx context.Context) ([]string, error) {
	done, err := appliedMigrations(ctx, sn.tx)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(done))
	for v := range done {
		out = append(out, v)
	}
	sort.Strings(out)
	return out, nil
}

// ReadBatch returns up to limit rows of t in primary-key order, starting
// after the row whose key is after (nil: from the start).
func (sn *Snapshot) ReadBatch(ctx context.Context, t TableInfo, after []any, limit int) ([]Row, error) {
	return readBatch(ctx, sn.tx, t, after, limit)
}

func quoteIdent(db bun.IDB, name string) string {
	return string(schema.NewQueryGen(db.Dialect()).AppendIdent(nil, name))
}

func readBatch(ctx context.Context, db bun.IDB, t TableInfo, after []any, limit int) ([]Row, error) {
	gen := schema.NewQueryGen(db.Dialect())
	cols := make([]byte, 0, 32*len(t.Columns))
	for i, c := range t.Columns {
		if i > 0 {
			cols = append(cols, ", "...)
		}
		cols = gen.AppendIdent(cols, c.Name)
	}
	var keys []byte
	for i, k := range t.Key {
		if i > 0 {
			keys = append(keys, ", "...)
		}
		keys = gen.AppendIdent(keys, t.Columns[k].Name)
	}
	q := []byte("SELECT ")
	q = append(q, cols...)
	q = append(q, " FROM "...)
	q = gen.AppendIdent(q, t.Name)
	if after != nil {
		q = append(q, " WHERE ("...)
		q = append(q, keys...)
		q = append(q, ") > ("...)
		for i, v := range after {
			if i > 0 {
				q = append(q, ", "...)
			}
			q = gen.Append(q, v)
		}
		q = append(q, ')')
	}
	q = append(q, " ORDER BY "...)
	q = append(q, keys...)
	q = append(q, " LIMIT "...)
	q = strconv.AppendInt(q, int64(limit), 10)
	// No arguments: the values are in the text, and bun passes a query
	// without arguments through untouched.
	rows, err := db.QueryContext(ctx, string(q))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", t.Name, err)
	}
	defer rows.Close()
	var out []Row
	vals := make([]any, len(t.Columns))
	ptrs := make([]any, len(t.Columns))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("read %s: %w", t.Name, err)
		}
		r := make(Row, len(vals))
		for i, v := range vals {
			nv, err := normalize(t.Columns[i].Kind, v)
			if err != nil {
				return nil, fmt.Errorf("read %s.%s: %w", t.Name, t.Columns[i].Name, err)
			}
			r[i] = nv
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", t.Name, err)
	}
	return out, nil
}

// normalize turns a driver's value into the kind's one Go type.
func normalize(k Kind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if b, ok := v.([]byte); ok && k != KindBytes {
		v = string(b)
	}
	switch k {
	case KindText, KindJSON:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case KindInteger:
		switch n := v.(type) {
		case int64:
			return n, nil
		case int32:
			return int64(n), nil
		case int:
			return int64(n), nil
		case float64:
			if n == math.Trunc(n) {
				return int64(n), nil
			}
		}
	case KindReal:
		switch n := v.(type) {
		case float64:
			return n, nil
		case float32:
			return float64(n), nil
		case int64:
			return float64(n), nil
		}
	case KindBoolean:
		switch b := v.(type) {
		case bool:
			return b, nil
		case int64:
			return b != 0, nil
		}
	case KindTimestamp:
		switch tm := v.(type) {
		case time.Time:
			return tm.UTC().Truncate(time.Microsecond), nil
		case string:
			for _, layout := range []string{TimeLayout, time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
				if p, err := time.Parse(layout, tm); err == nil {
					return p.UTC().Truncate(time.Microsecond), nil
				}
			}
			return nil, fmt.Errorf("timestamp %q is in no known format", tm)
		}
	case KindBytes:
		switch b := v.(type) {
		case []byte:
			return append([]byte(nil), b...), nil
		case string:
			return []byte(b), nil
		}
	}
	return nil, fmt.Errorf("%T is not a %s value", v, k)
}

// WriteBatch inserts rows (as ReadBatch returns them, from either
// dialect) into t in one statement, on the writer or the transaction of
// InTx. Columns the rows lack keep their defaults.
func (s *Store) WriteBatch(ctx context.Context, t TableInfo, rows []Row) error {
	if len(rows) == 0 {
		return nil
	}
	gen := schema.NewQueryGen(s.w.Dialect())
	q := []byte("INSERT INTO ")
	q = gen.AppendIdent(q, t.Name)
	q = append(q, " ("...)
	for i, c := range t.Columns {
		if i > 0 {
			q = append(q, ", "...)
		}
		q = gen.AppendIdent(q, c.Name)
	}
	q = append(q, ") VALUES "...)
	for ri, r := range rows {
		if ri > 0 {
			q = append(q, ", "...)
		}
		q = append(q, '(')
		for i, v := range r {
			if i > 0 {
				q = append(q, ", "...)
			}
			q = gen.Append(q, v)
		}
		q = append(q, ')')
	}
	if _, err := s.w.ExecContext(ctx, string(q)); err != nil {
		return fmt.Errorf("write %d rows to %s: %w", len(rows), t.Name, err)
	}
	return nil
}

// Canonical is a row's canonical form: a JSON object with sorted keys in
// which timestamps are UTC to the microsecond, booleans are booleans and
// JSON values are re-encoded with sorted keys, so that a row reads the
// same from SQLite text and from Postgres jsonb.
func (t TableInfo) Canonical(r Row) ([]byte, error) {
	return t.appendCanonical(nil, r)
}

// sortedColumns returns the column indexes in name order.
func (t TableInfo) sortedColumns() []int {
	idx := make([]int, len(t.Columns))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return t.Columns[idx[a]].Name < t.Columns[idx[b]].Name })
	return idx
}

func (t TableInfo) appendCanonical(b []byte, r Row) ([]byte, error) {
	if t.order == nil {
		t.order = t.sortedColumns()
	}
	b = append(b, '{')
	for n, i := range t.order {
		c := t.Columns[i]
		if n > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, c.Name)
		b = append(b, ':')
		switch v := r[i].(type) {
		case nil:
			b = append(b, "null"...)
		case string:
			if c.Kind != KindJSON {
				b = appendJSONString(b, v)
				break
			}
			j, err := canonicalJSON(v)
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", t.Name, c.Name, err)
			}
			enc, err := marshalSorted(j)
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", t.Name, c.Name, err)
			}
			b = append(b, enc...)
		case int64:
			b = strconv.AppendInt(b, v, 10)
		case float64:
			b = strconv.AppendFloat(b, v, 'g', -1, 64)
		case bool:
			b = strconv.AppendBool(b, v)
		case time.Time:
			b = append(b, '"')
			b = v.UTC().AppendFormat(b, TimeLayout)
			b = append(b, '"')
		case []byte:
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, v)
			b = append(b, '"')
		default:
			return nil, fmt.Errorf("%s.%s: %T has no canonical form", t.Name, c.Name, v)
		}
	}
	return append(b, '}'), nil
}

// appendJSONString appends s as a JSON string (invalid UTF-8 as U+FFFD).
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xf])
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}

func canonicalJSON(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber() // keep numbers as written: no float64 rounding
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	return canonicalNumbers(v), nil
}

// canonicalNumbers rewrites every number in one form (Postgres' jsonb
// writes 1e2 as 100 and keeps 2.50's trailing zero; SQLite keeps the text).
func canonicalNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if isPlainInt(string(x)) {
			return x
		}
		f, _, err := big.ParseFloat(string(x), 10, 512, big.ToNearestEven)
		if err != nil {
			return x
		}
		return json.Number(f.Text('g', -1))
	case []any:
		for i := range x {
			x[i] = canonicalNumbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = canonicalNumbers(x[k])
		}
	}
	return v
}

// isPlainInt reports whether a JSON number is a short integer with no
// exponent, which the slow path would render unchanged (big.Float's
// shortest 'g' form switches to an exponent from 1e6 on).
func isPlainInt(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" || len(s) > 6 || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func marshalSorted(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // maps encode with sorted keys
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Digest is a checksum of a table's content that does not depend on the
// order rows are read in (text keys sort differently on the two
// databases): the sum, modulo 2^256, of the SHA-256 of each row's
// canonical form, with the row count.
type Digest struct {
	Rows int64
	sum  [4]uint64
	buf  []byte
}

// Add folds one row into the digest.
func (d *Digest) Add(t TableInfo, r Row) error {
	c, err := t.appendCanonical(d.buf[:0], r)
	if err != nil {
		return err
	}
	d.buf = c
	h := sha256.Sum256(c)
	var carry uint64
	for i := 3; i >= 0; i-- {
		d.sum[i], carry = bits.Add64(d.sum[i], binary.BigEndian.Uint64(h[i*8:]), carry)
	}
	d.Rows++
	return nil
}

// String renders the digest as hex.
func (d Digest) String() string {
	var b [32]byte
	for i, x := range d.sum {
		binary.BigEndian.PutUint64(b[i*8:], x)
	}
	return hex.EncodeToString(b[:])
}

// DigestTable reads a whole table in batches and returns its digest.
func (sn *Snapshot) DigestTable(ctx context.Context, t TableInfo, batch int) (Digest, error) {
	var d Digest
	var after []any
	for {
		rows, err := sn.ReadBatch(ctx, t, after, batch)
		if err != nil {
			return d, err
		}
		for _, r := range rows {
			if err := d.Add(t, r); err != nil {
				return d, err
			}
		}
		if len(rows) < batch {
			return d, nil
		}
		after = t.KeyOf(rows[len(rows)-1])
	}
}

package store_test

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// column is a column as both dialects can describe it.
type column struct {
	Type    string
	NotNull bool
	Default string
	PKOrder int
}

type index struct {
	Unique  bool
	Columns string
}

type foreignKey struct {
	Column, RefTable, RefColumn, OnDelete string
}

type schema struct {
	Tables  map[string]map[string]column
	Indexes map[string]map[string]index // table → index name → index
	FKs     map[string][]foreignKey
}

// canonicalType maps each dialect's declared type to one name.
func canonicalType(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	switch t {
	case "text", "character varying":
		return "text"
	case "integer", "bigint", "int", "smallint":
		return "integer"
	case "real", "double precision":
		return "real"
	case "boolean":
		return "boolean"
	case "timestamp", "timestamp with time zone":
		return "timestamp"
	case "jsontext", "jsonb":
		return "json"
	case "blob", "bytea":
		return "bytes"
	}
	return "unknown:" + t
}

var castRE = regexp.MustCompile(`::[a-z ]+`)

func canonicalDefault(d string) string {
	d = strings.ToLower(strings.TrimSpace(d))
	d = castRE.ReplaceAllString(d, "")
	d = strings.Trim(d, "()")
	switch d {
	case "false":
		return "0"
	case "true":
		return "1"
	}
	return d
}

func readSQLiteSchema(t *testing.T, s *store.Store) schema {
	ctx := context.Background()
	db := s.DB()
	sc := schema{Tables: map[string]map[string]column{}, Indexes: map[string]map[string]index{}, FKs: map[string][]foreignKey{}}
	var tables []string
	if err := db.NewRaw("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").Scan(ctx, &tables); err != nil {
		t.Fatal(err)
	}
	for _, tbl := range tables {
		cols := map[string]column{}
		rows, err := db.QueryContext(ctx, fmt.Sprintf("PRAGMA table_info(%q)", tbl))
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var cid, notnull, pk int
			var name, typ string
			var dflt *string
			if err := rows.Scan(&cid, &name, &typ, &notnull, &dflt, &pk); err != nil {
				t.Fatal(err)
			}
			c := column{Type: canonicalType(typ), NotNull: notnull == 1 || pk > 0, PKOrder: pk}
			if dflt != nil {
				c.Default = canonicalDefault(*dflt)
			}
			cols[name] = c
		}
		rows.Close()
		sc.Tables[tbl] = cols

		idx := map[string]index{}
		rows, err = db.QueryContext(ctx, fmt.Sprintf("PRAGMA index_list(%q)", tbl))
		if err != nil {
			t.Fatal(err)
		}
		type il struct {
			name   string
			unique bool
			origin string
		}
		var list []il
		for rows.Next() {
			var seq, unique, partial int
			var name, origin string
			if err := rows.Scan(&seq, &name, &unique, &origin, &partial); err != nil {
				t.Fatal(err)
			}
			list = append(list, il{name, unique == 1, origin})
		}
		rows.Close()
		for _, ix := range list {
			if ix.origin == "pk" {
				continue
			}
			var colNames []string
			rows, err := db.QueryContext(ctx, fmt.Sprintf("PRAGMA index_info(%q)", ix.name))
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var seqno, cid int
				var name *string
				if err := rows.Scan(&seqno, &cid, &name); err != nil {
					t.Fatal(err)
				}
				if name == nil {
					colNames = append(colNames, "<expr>")
				} else {
					colNames = append(colNames, *name)
				}
			}
			rows.Close()
			idx[ix.name] = index{Unique: ix.unique, Columns: strings.Join(colNames, ",")}
		}
		sc.Indexes[tbl] = idx

		rows, err = db.QueryContext(ctx, fmt.Sprintf("PRAGMA foreign_key_list(%q)", tbl))
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id, seq int
			var refTable, from, to, onUpdate, onDelete, match string
			if err := rows.Scan(&id, &seq, &refTable, &from, &to, &onUpdate, &onDelete, &match); err != nil {
				t.Fatal(err)
			}
			sc.FKs[tbl] = append(sc.FKs[tbl], foreignKey{from, refTable, to, strings.ToUpper(onDelete)})
		}
		rows.Close()
	}
	return sc
}

func readPostgresSchema(t *testing.T, s *store.Store) schema {
	ctx := context.Background()
	db := s.DB()
	sc := schema{Tables: map[string]map[string]column{}, Indexes: map[string]map[string]index{}, FKs: map[string][]foreignKey{}}
	rows, err := db.QueryContext(ctx, `SELECT table_name, column_name, data_type, is_nullable, column_default
		FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var tbl, name, typ, nullable string
		var dflt *string
		if err := rows.Scan(&tbl, &name, &typ, &nullable, &dflt); err != nil {
			t.Fatal(err)
		}
		c := column{Type: canonicalType(typ), NotNull: nullable == "NO"}
		if dflt != nil {
			c.Default = canonicalDefault(*dflt)
		}
		if sc.Tables[tbl] == nil {
			sc.Tables[tbl] = map[string]column{}
		}
		sc.Tables[tbl][name] = c
	}
	rows.Close()

	rows, err = db.QueryContext(ctx, `SELECT tc.table_name, kcu.column_name, kcu.ordinal_position
		FROM information_schema.table_constraints tc
		JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema
		WHERE tc.table_schema = 'public' AND tc.constraint_type = 'PRIMARY KEY'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var tbl, col string
		var pos int
		if err := rows.Scan(&tbl, &col, &pos); err != nil {
			t.Fatal(err)
		}
		c := sc.Tables[tbl][col]
		c.PKOrder = pos
		sc.Tables[tbl][col] = c
	}
	rows.Close()

	rows, err = db.QueryContext(ctx, `SELECT t.relname, i.relname, ix.indisunique,
			array_to_string(ARRAY(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY k(attnum, ord)
				JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord), ',')
		FROM pg_index ix
		JOIN pg_class t ON t.oid = ix.indrelid
		JOIN pg_class i ON i.oid = ix.indexrelid
		JOIN pg_namespace n ON n.oid = t.relnamespace
		WHERE n.nspname = 'public' AND NOT ix.indisprimary`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var tbl, name, cols string
		var unique bool
		if err := rows.Scan(&tbl, &name, &unique, &cols); err != nil {
			t.Fatal(err)
		}
		if sc.Indexes[tbl] == nil {
			sc.Indexes[tbl] = map[string]index{}
		}
		sc.Indexes[tbl][name] = index{Unique: unique, Columns: cols}
	}
	rows.Close()

	rows, err = db.QueryContext(ctx, `SELECT cl.relname, a.attname, rc.relname, ra.attname, c.confdeltype
		FROM pg_constraint c
		JOIN pg_class cl ON cl.oid = c.conrelid
		JOIN pg_class rc ON rc.oid = c.confrelid
		JOIN pg_namespace n ON n.oid = cl.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
		JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[1]
		WHERE c.contype = 'f' AND n.nspname = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]string{"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
	for rows.Next() {
		var tbl, col, ref, refCol, del string
		if err := rows.Scan(&tbl, &col, &ref, &refCol, &del); err != nil {
			t.Fatal(err)
		}
		sc.FKs[tbl] = append(sc.FKs[tbl], foreignKey{col, ref, refCol, actions[del]})
	}
	rows.Close()
	for tbl := range sc.Tables {
		if sc.Indexes[tbl] == nil {
			sc.Indexes[tbl] = map[string]index{}
		}
	}
	return sc
}

// searchIndexTable reports whether a table belongs to a search provider's
// index (search_*: FTS5 and its shadow tables on SQLite, tsvector on
// Postgres), which differs by dialect by design and is tested through the
// provider instead (search/).
func searchIndexTable(name string) bool { return strings.HasPrefix(name, "search_") }

func dropSearchTables(sc schema) {
	for tbl := range sc.Tables {
		if searchIndexTable(tbl) {
			delete(sc.Tables, tbl)
			delete(sc.Indexes, tbl)
			delete(sc.FKs, tbl)
		}
	}
}

func sortFKs(m map[string][]foreignKey) {
	for _, fks := range m {
		sort.Slice(fks, func(i, j int) bool { return fks[i].Column < fks[j].Column })
	}
}

// TestSchemaParity migrates a fresh SQLite and a fresh Postgres and proves
// they have the same tables, columns (equivalent type, nullability,
// default, primary key), indexes (name, columns, uniqueness) and foreign
// keys (columns, target, ON DELETE).
func TestSchemaParity(t *testing.T) {
	lite := readSQLiteSchema(t, storetest.Open(t, store.SQLite))
	pg := readPostgresSchema(t, storetest.Open(t, store.Postgres))
	dropSearchTables(lite)
	dropSearchTables(pg)
	sortFKs(lite.FKs)
	sortFKs(pg.FKs)

	if len(lite.Tables) < 5 {
		t.Fatalf("expected the foundation tables, SQLite has %d", len(lite.Tables))
	}
	// Every table is in the registry that backup, restore and migrate-data
	// walk, or deliberately outside it.
	registered := map[string]bool{}
	for _, tb := range store.Tables() {
		registered[tb.Name] = true
		if _, ok := lite.Tables[tb.Name]; !ok {
			t.Errorf("registered table %s: not in SQLite", tb.Name)
		}
	}
	for tbl := range lite.Tables {
		if !registered[tbl] && !store.UnregisteredTable(tbl) {
			t.Errorf("table %s is not in the table registry (store/tables.go)", tbl)
		}
	}
	for tbl, cols := range lite.Tables {
		pcols, ok := pg.Tables[tbl]
		if !ok {
			t.Errorf("table %s: in SQLite, not in Postgres", tbl)
			continue
		}
		for name, c := range cols {
			pc, ok := pcols[name]
			if !ok {
				t.Errorf("%s.%s: in SQLite, not in Postgres", tbl, name)
				continue
			}
			if c != pc {
				t.Errorf("%s.%s differs: sqlite %+v, postgres %+v", tbl, name, c, pc)
			}
			if strings.HasPrefix(c.Type, "unknown:") {
				t.Errorf("%s.%s: type %s has no canonical name", tbl, name, c.Type)
			}
		}
		for name := range pcols {
			if _, ok := cols[name]; !ok {
				t.Errorf("%s.%s: in Postgres, not in SQLite", tbl, name)
			}
		}
		for name, ix := range lite.Indexes[tbl] {
			if pix, ok := pg.Indexes[tbl][name]; !ok {
				t.Errorf("index %s on %s: in SQLite, not in Postgres", name, tbl)
			} else if ix != pix {
				t.Errorf("index %s differs: sqlite %+v, postgres %+v", name, ix, pix)
			}
		}
		for name := range pg.Indexes[tbl] {
			if _, ok := lite.Indexes[tbl][name]; !ok {
				t.Errorf("index %s on %s: in Postgres, not in SQLite", name, tbl)
			}
		}
		if fmt.Sprint(lite.FKs[tbl]) != fmt.Sprint(pg.FKs[tbl]) {
			t.Errorf("foreign keys of %s differ: sqlite %v, postgres %v", tbl, lite.FKs[tbl], pg.FKs[tbl])
		}
	}
	for tbl := range pg.Tables {
		if _, ok := lite.Tables[tbl]; !ok {
			t.Errorf("table %s: in Postgres, not in SQLite", tbl)
		}
	}
}

// TestMigrationVersionsMatch: every migration exists in both dialects.
func TestMigrationVersionsMatch(t *testing.T) {
	l, err := store.LoadMigrations(store.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	p, err := store.LoadMigrations(store.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != len(p) {
		t.Fatalf("sqlite has %d migrations, postgres %d", len(l), len(p))
	}
	for i := range l {
		if l[i].Version != p[i].Version || l[i].Name != p[i].Name {
			t.Errorf("migration %d: sqlite %s_%s, postgres %s_%s", i, l[i].Version, l[i].Name, p[i].Version, p[i].Name)
		}
	}
}

package store

import (
	"time"

	"github.com/uptrace/bun/dialect/sqlitedialect"
)

// TimeLayout is how timestamps are written as text on SQLite: UTC, with a
// fixed number of fractional digits, so that text order is time order
// (bun's default layout trims trailing zeros, which breaks that).
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// sqliteDialect is bun's SQLite dialect with a fixed-width time layout.
type sqliteDialect struct {
	*sqlitedialect.Dialect
}

func newSQLiteDialect() *sqliteDialect {
	return &sqliteDialect{Dialect: sqlitedialect.New()}
}

// AppendTime writes tm as a quoted UTC literal in TimeLayout.
func (d *sqliteDialect) AppendTime(b []byte, tm time.Time) []byte {
	b = append(b, '\'')
	b = tm.UTC().AppendFormat(b, TimeLayout)
	return append(b, '\'')
}

// Now is the current time as the store keeps it: UTC, truncated to
// microseconds (Postgres' precision), so that a value reads back equal on
// both databases.
func Now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

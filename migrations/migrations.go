// Package migrations embeds the schema migrations of both dialects. Files are
// named NNNN_name.sql; the same versions exist in sqlite/ and postgres/, and
// a test in package store proves that both give the same schema.
package migrations

import "embed"

// FS holds sqlite/*.sql and postgres/*.sql.
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS

package store_test

import (
	"fmt"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agentops/agentops/store"
)

// The errors a full disk produces on each path are recognised, however
// deeply they are wrapped: SQLite's own (tested through the API with
// max_page_count), Postgres' disk_full, and a file write's ENOSPC (blobs).
func TestIsStorageFull(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("put blob: %w", fmt.Errorf("write: %w", syscall.ENOSPC)),
		fmt.Errorf("quota: %w", syscall.EDQUOT),
		fmt.Errorf("insert: %w", &pgconn.PgError{Code: "53100", Message: "could not extend file"}),
		fmt.Errorf("ready: %w", store.ErrStorageFull),
	} {
		if !store.IsStorageFull(err) {
			t.Errorf("not seen as full: %v", err)
		}
	}
	for _, err := range []error{nil, syscall.EACCES, &pgconn.PgError{Code: "23505"}, store.ErrNotFound} {
		if store.IsStorageFull(err) {
			t.Errorf("seen as full: %v", err)
		}
	}
}

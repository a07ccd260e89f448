package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// A full disk is 507 STORAGE_FULL with a message that says so, /ready
// reports it, and the log says it once a minute, not once per request.
// SQLite's max_page_count stands in for the disk (mounting a small tmpfs
// needs privileges tests do not have).
func TestStorageFull(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, store.SQLite)
	e := newEnv(t, st, envOpts{})
	tok := e.register("ada@example.com", pw)
	expect(t, e.call("GET", "/ready", "", nil), 200, "")

	// The writer is one connection, so the pragma holds for every write.
	var pages int
	if err := st.DB().QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages+2)); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("all work and no play ", 2000)
	var r resp
	for i := range 50 {
		r = e.call("PUT", "/api/me/memory", tok, map[string]any{"path": fmt.Sprintf("notes/%d.md", i), "content": big})
		if r.Status >= 300 {
			break
		}
	}
	expect(t, r, 507, "STORAGE_FULL")
	if !strings.Contains(r.str("error"), "full") {
		t.Fatalf("507 body: %s", r.Raw)
	}
	for range 5 {
		expect(t, e.call("PUT", "/api/me/memory", tok, map[string]any{"path": "notes/more.md", "content": big}), 507, "STORAGE_FULL")
	}
	r = e.call("GET", "/ready", "", nil)
	expect(t, r, 503, "STORAGE_FULL")
	if n := strings.Count(e.logs.String(), "storage is full"); n != 1 {
		t.Fatalf("logged %d times in a minute, want once:\n%s", n, e.logs.String())
	}
	// Reads still work.
	expect(t, e.call("GET", "/api/auth/me", tok, nil), 200, "")

	// A minute later it is logged again, with how many were not.
	e.clock.Advance(61 * time.Second)
	expect(t, e.call("PUT", "/api/me/memory", tok, map[string]any{"path": "notes/more.md", "content": big}), 507, "STORAGE_FULL")
	if n := strings.Count(e.logs.String(), "storage is full"); n != 2 {
		t.Fatalf("logged %d times over two minutes, want twice", n)
	}

	// Space comes back: writes work, and /ready recovers once a minute
	// has passed without a full write.
	if _, err := st.DB().ExecContext(ctx, "PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
	expect(t, e.call("PUT", "/api/me/memory", tok, map[string]any{"path": "notes/more.md", "content": big}), 201, "")
	e.clock.Advance(61 * time.Second)
	expect(t, e.call("GET", "/ready", "", nil), 200, "")
}

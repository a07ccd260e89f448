package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// InsertMany (imports) skips ids that exist and counts only what it
// inserted; ExistingIDs finds what an importer skips.
func TestMessagesInsertManyAndExistingIDs(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "a@example.com", store.RoleMember, at(0))
		sess := mkAgentSession(t, s, u.ID, store.StatusTerminated, at(0))
		tool := json.RawMessage(`[{"type":"tool-call","callId":"c","toolName":"bash","status":"completed"}]`)
		msg := func(id string, seq int64, role string, parts json.RawMessage) store.Message {
			return store.Message{ID: id, SessionID: sess.ID, Seq: seq, Role: role, Content: id, Parts: parts, CreatedAt: at(0), UpdatedAt: at(0)}
		}
		noErr(t, "insert many", s.Messages().InsertMany(ctx, []store.Message{msg("m1", 1, "user", nil), msg("m2", 2, "assistant", tool), msg("m3", 3, "system", nil)}))
		// Again with one new: the three are left alone and not counted twice.
		noErr(t, "insert many again", s.Messages().InsertMany(ctx, []store.Message{msg("m1", 1, "user", nil), msg("m4", 4, "user", nil)}))
		if n := countRows(t, s, "sessions", "id = ? AND message_count = 3 AND tool_call_count = 1", sess.ID); n != 1 {
			t.Fatal("the session's counters are not 3 messages (user and assistant) and 1 tool call")
		}
		got, err := s.ExistingIDs(ctx, "messages", "id", []string{"m1", "m4", "nope"})
		noErr(t, "existing", err)
		if !got["m1"] || !got["m4"] || got["nope"] {
			t.Fatalf("existing = %v", got)
		}
		if _, err := s.ExistingIDs(ctx, "sqlite_master", "name", []string{"x"}); err == nil {
			t.Fatal("ExistingIDs read a table outside the registry")
		}
	})
}

// A dump is loaded statement by statement: semicolons inside quotes and
// comments do not split, a statement cut off is ErrTruncatedDump.
func TestOpenForeignSQLiteDump(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dump := filepath.Join(dir, "d.sql")
	body := "PRAGMA defer_foreign_keys=TRUE;\n-- a comment; with a semicolon\nCREATE TABLE t (id TEXT, v TEXT);\n" +
		"INSERT INTO t VALUES ('1','a;b ''quoted; too''');\nINSERT INTO t VALUES ('2',\"x;y\");\n"
	if err := os.WriteFile(dump, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := store.OpenForeignSQLite(ctx, dump, dir)
	noErr(t, "open dump", err)
	var v string
	noErr(t, "read", f.DB.QueryRowContext(ctx, "SELECT v FROM t WHERE id = '1'").Scan(&v))
	if v != "a;b 'quoted; too'" {
		t.Fatalf("v = %q", v)
	}
	f.Close()
	if err := os.WriteFile(dump, []byte(body[:len(body)-12]), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.OpenForeignSQLite(ctx, dump, dir); !errors.Is(err, store.ErrTruncatedDump) {
		t.Fatalf("truncated dump: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("scratch databases left behind: %v", entries)
	}
}

package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/search"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func mkFile(userID, path string, relevance float64, accessed time.Time) store.MemoryFile {
	return store.MemoryFile{ID: uuid.NewString(), UserID: userID, Path: path, Title: path, Content: "content of " + path,
		Relevance: relevance, Pinned: strings.HasPrefix(path, "preferences/"), Version: 1,
		CreatedAt: base, UpdatedAt: base, LastAccessedAt: accessed}
}

func TestMemoryFilesRepository(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		u := mkUser(t, s, "ann@example.com", store.RoleMember, base)
		other := mkUser(t, s, "bob@example.com", store.RoleMember, base)
		files := []store.MemoryFile{
			mkFile(u.ID, "a_b/x.md", 1.0, at(3*time.Hour)),
			mkFile(u.ID, "axb/y.md", 0.5, at(time.Hour)),
			mkFile(u.ID, "notes/old.md", 1.0, at(time.Hour)),
			mkFile(u.ID, "notes/new.md", 1.0, at(2*time.Hour)),
			mkFile(u.ID, "preferences/p.md", 0.1, at(0)),
			mkFile(other.ID, "notes/old.md", 0.1, at(0)),
		}
		noErr(t, "insert many", s.MemoryFiles().InsertMany(ctx, files))

		// LIKE wildcards in a prefix are literal.
		l, err := s.MemoryFiles().List(ctx, u.ID, "a_b/")
		noErr(t, "list", err)
		if len(l) != 1 || l[0].Path != "a_b/x.md" || l[0].Size != len("content of a_b/x.md") {
			t.Fatalf("list a_b/: %+v", l)
		}
		n, err := s.MemoryFiles().CountUnpinned(ctx, u.ID)
		noErr(t, "count", err)
		if n != 4 {
			t.Fatalf("unpinned: %d", n)
		}

		// Touch raises relevance up to the cap.
		for range 20 {
			noErr(t, "touch", s.MemoryFiles().Touch(ctx, files[0].ID, at(4*time.Hour)))
		}
		f, err := s.MemoryFiles().Get(ctx, u.ID, "a_b/x.md")
		noErr(t, "get", err)
		if f.Relevance != store.MaxRelevance {
			t.Fatalf("relevance %v, want the cap %v", f.Relevance, store.MaxRelevance)
		}
		sameTime(t, "last access", f.LastAccessedAt, at(4*time.Hour))

		// Evict: lowest relevance first, then oldest access; never pinned,
		// never the kept file, never another user's.
		gone, err := s.MemoryFiles().Evict(ctx, u.ID, 2, files[2].ID)
		noErr(t, "evict", err)
		if strings.Join(gone, ",") != "axb/y.md,notes/new.md" {
			t.Fatalf("evicted %v", gone)
		}
		wantUnpinned(t, s, u.ID, 2)
		hits, err := s.MemoryFiles().Search(ctx, search.Query{UserID: u.ID, Text: "content"})
		noErr(t, "search", err)
		if len(hits) != 3 {
			t.Fatalf("evicted files leave the index: %+v", hits)
		}

		// DeletePrefix removes files and index rows of one user only.
		d, err := s.MemoryFiles().DeletePrefix(ctx, u.ID, "notes/")
		noErr(t, "delete prefix", err)
		if d != 1 {
			t.Fatalf("deleted %d", d)
		}
		if c := countRows(t, s, "memory_files", "user_id = ?", other.ID); c != 1 {
			t.Fatalf("another user's file was touched: %d", c)
		}
		wantUnpinned(t, s, u.ID, 1)
		wantUnpinned(t, s, other.ID, 1)

		// One by one: an unpinned file counts, a pinned one does not, and
		// a deletion gives its place back.
		one := mkFile(u.ID, "notes/one.md", 1.0, at(5*time.Hour))
		noErr(t, "insert", s.MemoryFiles().Insert(ctx, &one))
		pin := mkFile(u.ID, "preferences/two.md", 1.0, at(5*time.Hour))
		noErr(t, "insert pinned", s.MemoryFiles().Insert(ctx, &pin))
		wantUnpinned(t, s, u.ID, 2)
		_, err = s.MemoryFiles().Delete(ctx, u.ID, "notes/one.md")
		noErr(t, "delete", err)
		_, err = s.MemoryFiles().Delete(ctx, u.ID, "preferences/two.md")
		noErr(t, "delete pinned", err)
		wantUnpinned(t, s, u.ID, 1)

		// A count a raw copy left wrong is put right by a recount.
		_, err = s.DB().NewRaw("UPDATE memory_usage SET unpinned_files = 99 WHERE user_id = ?", u.ID).Exec(ctx)
		noErr(t, "spoil count", err)
		n, err = s.MemoryFiles().RecountUnpinned(ctx, u.ID)
		noErr(t, "recount", err)
		if n != 1 {
			t.Fatalf("recount: %d, want 1", n)
		}
		wantUnpinned(t, s, u.ID, 1)
		hits, err = s.MemoryFiles().Search(ctx, search.Query{UserID: other.ID, Text: "old"})
		noErr(t, "search", err)
		if len(hits) != 1 {
			t.Fatalf("another user's index: %+v", hits)
		}
	})
}

// wantUnpinned checks the running count against the files themselves.
func wantUnpinned(t *testing.T, s *store.Store, userID string, want int) {
	t.Helper()
	n, err := s.MemoryFiles().CountUnpinned(context.Background(), userID)
	noErr(t, "count unpinned", err)
	rows := countRows(t, s, "memory_files", "user_id = ? AND pinned = ?", userID, false)
	if n != want || rows != want {
		t.Fatalf("unpinned files of %s: running count %d, rows %d, want %d", userID, n, rows, want)
	}
}

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
		hits, err = s.MemoryFiles().Search(ctx, search.Query{UserID: other.ID, Text: "old"})
		noErr(t, "search", err)
		if len(hits) != 1 {
			t.Fatalf("another user's index: %+v", hits)
		}
	})
}

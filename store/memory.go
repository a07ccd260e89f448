package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/agentops/agentops/search"
)

// MemoryFile is one file of a user's memory.
type MemoryFile struct {
	bun.BaseModel `bun:"table:memory_files"`

	ID             string    `bun:"id,pk"`
	UserID         string    `bun:"user_id,notnull"`
	Path           string    `bun:"path,notnull"`
	Title          string    `bun:"title,notnull"`
	Content        string    `bun:"content,notnull"`
	Relevance      float64   `bun:"relevance,notnull"`
	Pinned         bool      `bun:"pinned,notnull"`
	Version        int       `bun:"version,notnull"`
	CreatedAt      time.Time `bun:"created_at,notnull"`
	UpdatedAt      time.Time `bun:"updated_at,notnull"`
	LastAccessedAt time.Time `bun:"last_accessed_at,notnull"`
}

// MemoryListing is a file in a directory listing.
type MemoryListing struct {
	Path      string    `bun:"path"`
	Size      int       `bun:"size"`
	UpdatedAt time.Time `bun:"updated_at"`
	Pinned    bool      `bun:"pinned"`
}

// MaxRelevance caps the boost files get when they are read.
const MaxRelevance = 2.0

// MemoryFiles is the repository of memory files. Every write changes the
// search index in the same transaction as the file.
type MemoryFiles struct{ s *Store }

// MemoryFiles returns the memory repository.
func (s *Store) MemoryFiles() MemoryFiles { return MemoryFiles{s} }

func (f *MemoryFile) doc() search.Doc {
	return search.Doc{ID: f.ID, UserID: f.UserID, Path: f.Path, Title: f.Title, Content: f.Content}
}

// Get returns a user's file by (normalized) path.
func (r MemoryFiles) Get(ctx context.Context, userID, path string) (*MemoryFile, error) {
	f := new(MemoryFile)
	err := r.s.r.NewSelect().Model(f).Where("user_id = ? AND path = ?", userID, path).Scan(ctx)
	return f, wrap("get memory file", err)
}

// likeEscape escapes LIKE's wildcards (with ESCAPE '\').
func likeEscape(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\', '%', '_':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// List returns a user's files whose path starts with prefix (all when
// empty), by path.
func (r MemoryFiles) List(ctx context.Context, userID, prefix string) ([]MemoryListing, error) {
	out := []MemoryListing{}
	q := r.s.r.NewSelect().Model((*MemoryFile)(nil)).
		ColumnExpr("path, length(content) AS size, updated_at, pinned").
		Where("user_id = ?", userID).OrderExpr("path ASC")
	if prefix != "" {
		q = q.Where(`path LIKE ? ESCAPE '\'`, likeEscape(prefix)+"%")
	}
	err := q.Scan(ctx, &out)
	return out, wrap("list memory files", err)
}

// Insert adds a file and indexes it.
func (r MemoryFiles) Insert(ctx context.Context, f *MemoryFile) error {
	return r.s.InTx(ctx, func(tx *Store) error {
		if _, err := tx.w.NewInsert().Model(f).Exec(ctx); err != nil {
			return wrap("insert memory file", err)
		}
		if !f.Pinned {
			if err := addUnpinned(ctx, tx, f.UserID, 1); err != nil {
				return err
			}
		}
		return tx.search.Index(ctx, tx.w, f.doc())
	})
}

// addUnpinned moves a user's count of unpinned files (memory_usage) by
// delta, in the caller's transaction.
func addUnpinned(ctx context.Context, tx *Store, userID string, delta int) error {
	if delta == 0 {
		return nil
	}
	_, err := tx.w.NewRaw(`INSERT INTO memory_usage (user_id, unpinned_files) VALUES (?, ?)
		ON CONFLICT (user_id) DO UPDATE SET unpinned_files = memory_usage.unpinned_files + excluded.unpinned_files`, userID, delta).Exec(ctx)
	return wrap("count memory files", err)
}

// InsertMany adds files in bulk (multi-row inserts) and indexes them;
// none may exist yet. For imports and benchmarks: it applies no cap.
func (r MemoryFiles) InsertMany(ctx context.Context, files []MemoryFile) error {
	if len(files) == 0 {
		return nil
	}
	return r.s.InTx(ctx, func(tx *Store) error {
		const batch = 500
		docs := make([]search.Doc, 0, len(files))
		for i := 0; i < len(files); i += batch {
			part := files[i:min(i+batch, len(files))]
			if _, err := tx.w.NewInsert().Model(&part).Exec(ctx); err != nil {
				return wrap("insert memory files", err)
			}
			for j := range part {
				docs = append(docs, part[j].doc())
			}
		}
		unpinned := map[string]int{}
		for i := range files {
			if !files[i].Pinned {
				unpinned[files[i].UserID]++
			}
		}
		for user, n := range unpinned {
			if err := addUnpinned(ctx, tx, user, n); err != nil {
				return err
			}
		}
		return tx.search.IndexNew(ctx, tx.w, docs)
	})
}

// Update writes a file's content, title, pinned, version and times, and
// re-indexes it.
func (r MemoryFiles) Update(ctx context.Context, f *MemoryFile) error {
	return r.s.InTx(ctx, func(tx *Store) error {
		res, err := tx.w.NewUpdate().Model(f).
			Column("title", "content", "pinned", "version", "updated_at", "last_accessed_at").WherePK().Exec(ctx)
		if err := affectedOne("update memory file", res, err); err != nil {
			return err
		}
		return tx.search.Index(ctx, tx.w, f.doc())
	})
}

// Touch records a read: relevance grows by 0.1 (up to MaxRelevance) and
// the access time moves to now.
func (r MemoryFiles) Touch(ctx context.Context, id string, now time.Time) error {
	_, err := r.s.w.NewUpdate().Model((*MemoryFile)(nil)).
		Set("relevance = CASE WHEN relevance + 0.1 > ? THEN ? ELSE relevance + 0.1 END", MaxRelevance, MaxRelevance).
		Set("last_accessed_at = ?", now).Where("id = ?", id).Exec(ctx)
	return wrap("touch memory file", err)
}

// deleteWhere removes the matching files of a user and their index rows.
func (r MemoryFiles) deleteWhere(ctx context.Context, what string, where func(q *bun.SelectQuery) *bun.SelectQuery) (int, error) {
	n := 0
	err := r.s.InTx(ctx, func(tx *Store) error {
		var victims []MemoryFile
		if err := where(tx.w.NewSelect().Model(&victims).Column("id", "user_id", "pinned")).Scan(ctx); err != nil {
			return wrap(what, err)
		}
		if len(victims) == 0 {
			return nil
		}
		ids := make([]string, len(victims))
		unpinned := map[string]int{}
		for i, v := range victims {
			ids[i] = v.ID
			if !v.Pinned {
				unpinned[v.UserID]--
			}
		}
		for user, n := range unpinned {
			if err := addUnpinned(ctx, tx, user, n); err != nil {
				return err
			}
		}
		if err := tx.search.Remove(ctx, tx.w, ids...); err != nil {
			return err
		}
		res, err := tx.w.NewDelete().Model((*MemoryFile)(nil)).Where("id IN (?)", bun.In(ids)).Exec(ctx)
		if err != nil {
			return wrap(what, err)
		}
		d, err := res.RowsAffected()
		n = int(d)
		return wrap(what, err)
	})
	return n, err
}

// Delete removes a user's file by path; it returns how many were removed
// (0 or 1).
func (r MemoryFiles) Delete(ctx context.Context, userID, path string) (int, error) {
	return r.deleteWhere(ctx, "delete memory file", func(q *bun.SelectQuery) *bun.SelectQuery {
		return q.Where("user_id = ? AND path = ?", userID, path)
	})
}

// DeletePrefix removes every file of a user under prefix.
func (r MemoryFiles) DeletePrefix(ctx context.Context, userID, prefix string) (int, error) {
	return r.deleteWhere(ctx, "delete memory files", func(q *bun.SelectQuery) *bun.SelectQuery {
		return q.Where("user_id = ?", userID).Where(`path LIKE ? ESCAPE '\'`, likeEscape(prefix)+"%")
	})
}

// CountUnpinned is the number of a user's files outside preferences/,
// kept as a running count (memory_usage) rather than counted.
func (r MemoryFiles) CountUnpinned(ctx context.Context, userID string) (int, error) {
	var n []int
	err := r.s.r.NewSelect().Table("memory_usage").Column("unpinned_files").Where("user_id = ?", userID).Scan(ctx, &n)
	if err != nil {
		return 0, wrap("count memory files", err)
	}
	if len(n) == 0 {
		return 0, nil
	}
	return n[0], nil
}

// RecountUnpinned counts a user's unpinned files afresh and stores the
// count: for a count that a raw copy of rows left behind.
func (r MemoryFiles) RecountUnpinned(ctx context.Context, userID string) (int, error) {
	var n int
	err := r.s.InTx(ctx, func(tx *Store) error {
		c, err := tx.w.NewSelect().Model((*MemoryFile)(nil)).Where("user_id = ? AND pinned = ?", userID, false).Count(ctx)
		if err != nil {
			return wrap("count memory files", err)
		}
		n = int(c)
		_, err = tx.w.NewRaw(`INSERT INTO memory_usage (user_id, unpinned_files) VALUES (?, ?)
			ON CONFLICT (user_id) DO UPDATE SET unpinned_files = excluded.unpinned_files`, userID, n).Exec(ctx)
		return wrap("store memory file count", err)
	})
	return n, err
}

// Evict removes n of a user's unpinned files, the least relevant first
// and among equals the least recently read, never the file keepID; it
// returns the paths it removed.
func (r MemoryFiles) Evict(ctx context.Context, userID string, n int, keepID string) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	var victims []MemoryFile
	err := r.s.InTx(ctx, func(tx *Store) error {
		err := tx.w.NewSelect().Model(&victims).Column("id", "path").
			Where("user_id = ? AND pinned = ? AND id <> ?", userID, false, keepID).
			OrderExpr("relevance ASC, last_accessed_at ASC, id ASC").Limit(int64(n)).Scan(ctx)
		if err != nil {
			return wrap("pick memory files to evict", err)
		}
		if len(victims) == 0 {
			return nil
		}
		ids := make([]string, len(victims))
		for i := range victims {
			ids[i] = victims[i].ID
		}
		if err := tx.search.Remove(ctx, tx.w, ids...); err != nil {
			return err
		}
		res, err := tx.w.NewDelete().Model((*MemoryFile)(nil)).Where("id IN (?)", bun.In(ids)).Exec(ctx)
		if err != nil {
			return wrap("evict memory files", err)
		}
		d, err := res.RowsAffected()
		if err != nil {
			return wrap("evict memory files", err)
		}
		return addUnpinned(ctx, tx, userID, -int(d))
	})
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(victims))
	for i := range victims {
		paths[i] = victims[i].Path
	}
	return paths, nil
}

// Search runs a full-text query over a user's files.
func (r MemoryFiles) Search(ctx context.Context, q search.Query) ([]search.Hit, error) {
	hits, err := r.s.search.Search(ctx, r.s.r, q)
	if err != nil {
		return nil, fmt.Errorf("search memory: %w", err)
	}
	return hits, nil
}

// RebuildSearch indexes every memory file again, in batches of batch
// files, each in its own transaction (a copy of the data, by restore or
// migrate-data, rebuilds the index rather than copying the other
// dialect's). progress, if not nil, is called after each batch with the
// number of files indexed so far. Safe to run again after an interruption.
func (r MemoryFiles) RebuildSearch(ctx context.Context, batch int, progress func(done int)) (int, error) {
	if batch <= 0 {
		batch = 500
	}
	after := ""
	done := 0
	for {
		var files []MemoryFile
		if err := r.s.r.NewSelect().Model(&files).Where("id > ?", after).Order("id").Limit(int64(batch)).Scan(ctx); err != nil {
			return done, wrap("rebuild search index", err)
		}
		if len(files) == 0 {
			return done, nil
		}
		err := r.s.InTx(ctx, func(tx *Store) error {
			ids := make([]string, len(files))
			docs := make([]search.Doc, len(files))
			for i := range files {
				ids[i], docs[i] = files[i].ID, files[i].doc()
			}
			if err := tx.search.Remove(ctx, tx.w, ids...); err != nil {
				return err
			}
			return tx.search.IndexNew(ctx, tx.w, docs)
		})
		if err != nil {
			return done, fmt.Errorf("rebuild search index: %w", err)
		}
		done += len(files)
		after = files[len(files)-1].ID
		if progress != nil {
			progress(done)
		}
	}
}

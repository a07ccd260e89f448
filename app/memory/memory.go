// Package memory is the users' memory: path-addressed markdown files with
// full-text search, written by users over REST and by their agents over
// the runner socket (mem-* RPCs). Files under preferences/ are pinned;
// the others are capped per user, the least relevant and least recently
// read evicted first. Reading a file raises its relevance.
package memory

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/search"
	"github.com/agentops/agentops/store"
)

// Limits.
const (
	// MaxContentChars bounds a file (upstream's 50000).
	MaxContentChars = 50000
	// DefaultMaxFiles is the default cap on a user's unpinned files.
	DefaultMaxFiles = 200
	// DefaultSearchLimit and MaxSearchLimit bound search results.
	DefaultSearchLimit = 20
	MaxSearchLimit     = 100
	// maxQueryBytes bounds what is read of a query.
	maxQueryBytes = 4096
)

// Config tunes the service; zero fields take defaults.
type Config struct {
	// MaxFiles caps a user's unpinned files (default 200).
	MaxFiles int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service is the memory domain. Its methods run on the store they are
// given (In), so a caller can put them in its own transaction.
type Service struct {
	st  *store.Store
	cfg Config
}

// New returns the service over st.
func New(st *store.Store, cfg Config) *Service {
	if cfg.MaxFiles <= 0 {
		cfg.MaxFiles = DefaultMaxFiles
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{st: st, cfg: cfg}
}

// In returns the service running on tx (a transaction of the same store).
func (s *Service) In(tx *store.Store) *Service { return &Service{st: tx, cfg: s.cfg} }

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

// Listing is what reading a directory returns.
type Listing = store.MemoryListing

// Read returns a file (nil when it does not exist), or, for an empty path
// or one ending in '/', the listing of that directory. Reading a file
// raises its relevance and records the access.
func (s *Service) Read(ctx context.Context, userID, rawPath string) (*store.MemoryFile, []Listing, error) {
	if isDir(rawPath) {
		prefix, err := dirPrefix(rawPath)
		if err != nil {
			return nil, nil, err
		}
		list, err := s.st.MemoryFiles().List(ctx, userID, prefix)
		return nil, list, err
	}
	path, err := filePath(rawPath)
	if err != nil {
		return nil, nil, err
	}
	var f *store.MemoryFile
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		got, err := tx.MemoryFiles().Get(ctx, userID, path)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		now := s.now()
		if err := tx.MemoryFiles().Touch(ctx, got.ID, now); err != nil {
			return err
		}
		got.Relevance = min(got.Relevance+0.1, store.MaxRelevance)
		got.LastAccessedAt = now
		f = got
		return nil
	})
	return f, nil, err
}

func checkContent(field, content string, required bool) error {
	if required && content == "" {
		return apperr.Invalid(field, "%s is required", field)
	}
	if n := utf8.RuneCountInString(content); n > MaxContentChars {
		return apperr.Invalid(field, "a memory file holds at most %d characters (this one would have %d)", MaxContentChars, n)
	}
	if !utf8.ValidString(content) || strings.ContainsRune(content, 0) {
		return apperr.Invalid(field, "%s must be UTF-8 text without NUL characters", field)
	}
	return nil
}

// Write creates or overwrites a file; an overwrite bumps its version.
// Creating an unpinned file beyond the cap evicts others.
func (s *Service) Write(ctx context.Context, userID, rawPath, content string) (*store.MemoryFile, error) {
	path, err := filePath(rawPath)
	if err != nil {
		return nil, err
	}
	if err := checkContent("content", content, true); err != nil {
		return nil, err
	}
	var f *store.MemoryFile
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		f, err = s.In(tx).put(ctx, userID, path, content)
		return err
	})
	return f, err
}

// put writes a file inside a transaction, holding the user's memory lock.
func (s *Service) put(ctx context.Context, userID, path, content string) (*store.MemoryFile, error) {
	if err := s.st.LockKey(ctx, "memory:"+userID); err != nil {
		return nil, err
	}
	now := s.now()
	f, err := s.st.MemoryFiles().Get(ctx, userID, path)
	switch {
	case errors.Is(err, store.ErrNotFound):
		f = &store.MemoryFile{ID: uuid.NewString(), UserID: userID, Path: path, Title: titleOf(content, path), Content: content,
			Relevance: 1, Pinned: strings.HasPrefix(path, PinnedPrefix), Version: 1, CreatedAt: now, UpdatedAt: now, LastAccessedAt: now}
		if err := s.st.MemoryFiles().Insert(ctx, f); err != nil {
			return nil, err
		}
		if !f.Pinned {
			if err := s.enforceCap(ctx, userID, f.ID); err != nil {
				return nil, err
			}
		}
		return f, nil
	case err != nil:
		return nil, err
	}
	f.Content, f.Title = content, titleOf(content, path)
	f.Version++
	f.UpdatedAt, f.LastAccessedAt = now, now
	if err := s.st.MemoryFiles().Update(ctx, f); err != nil {
		return nil, err
	}
	return f, nil
}

// enforceCap evicts the user's unpinned files over the cap, never keepID
// (the file just written: upstream could evict it at once).
func (s *Service) enforceCap(ctx context.Context, userID, keepID string) error {
	n, err := s.st.MemoryFiles().CountUnpinned(ctx, userID)
	if err != nil {
		return err
	}
	if n <= s.cfg.MaxFiles {
		return nil
	}
	_, err = s.st.MemoryFiles().Evict(ctx, userID, n-s.cfg.MaxFiles, keepID)
	return err
}

// PatchResult is what a patch did.
type PatchResult struct {
	Content string   `json:"content"`
	Version int      `json:"version"`
	Applied int      `json:"applied"`
	Skipped []string `json:"skipped"`
}

// Patch applies operations to a file in order. Operations that do not
// apply (a missing anchor, say) are skipped and reported; append and
// prepend create a missing file. Nothing is written when none applied.
func (s *Service) Patch(ctx context.Context, userID, rawPath string, ops []Op) (*PatchResult, error) {
	path, err := filePath(rawPath)
	if err != nil {
		return nil, err
	}
	if err := validateOps(ops); err != nil {
		return nil, err
	}
	var res *PatchResult
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		if err := tx.LockKey(ctx, "memory:"+userID); err != nil {
			return err
		}
		cur, err := tx.MemoryFiles().Get(ctx, userID, path)
		exists := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		old := ""
		if exists {
			old = cur.Content
		}
		content, applied, skipped := applyOps(old, exists, ops)
		if applied == 0 {
			res = &PatchResult{Content: old, Skipped: skipped}
			if exists {
				res.Version = cur.Version
			}
			return nil
		}
		if err := checkContent("operations", content, false); err != nil {
			return err
		}
		if content == "" && !exists {
			res = &PatchResult{Skipped: skipped}
			return nil
		}
		f, err := s.In(tx).put(ctx, userID, path, content)
		if err != nil {
			return err
		}
		res = &PatchResult{Content: f.Content, Version: f.Version, Applied: applied, Skipped: skipped}
		return nil
	})
	return res, err
}

// Delete removes a file, or with a path ending in '/', every file under
// that directory; it returns how many were removed.
func (s *Service) Delete(ctx context.Context, userID, rawPath string) (int, error) {
	if strings.TrimSpace(rawPath) == "" {
		return 0, apperr.Invalid("path", "path query param required")
	}
	if isDir(rawPath) {
		prefix, err := dirPrefix(rawPath)
		if err != nil {
			return 0, err
		}
		if prefix == "" {
			return 0, apperr.Invalid("path", "path must name a file or a directory; / alone would delete the whole memory")
		}
		return s.st.MemoryFiles().DeletePrefix(ctx, userID, prefix)
	}
	path, err := filePath(rawPath)
	if err != nil {
		return 0, err
	}
	return s.st.MemoryFiles().Delete(ctx, userID, path)
}

// Result is one search hit as clients see it.
type Result struct {
	Path      string  `json:"path"`
	Snippet   string  `json:"snippet"`
	Relevance float64 `json:"relevance"`
}

// Search finds a user's files matching query (the grammar of
// search.Parse), optionally under a directory.
func (s *Service) Search(ctx context.Context, userID, query, rawPath string, limit int) ([]Result, error) {
	if strings.TrimSpace(query) == "" {
		return nil, apperr.Invalid("query", "query param required")
	}
	if len(query) > maxQueryBytes {
		query = truncate(query, maxQueryBytes)
	}
	prefix, err := dirPrefix(rawPath)
	if err != nil {
		return nil, err
	}
	switch {
	case limit == 0:
		limit = DefaultSearchLimit
	case limit < 1 || limit > MaxSearchLimit:
		return nil, apperr.Invalid("limit", "limit must be from 1 to %d", MaxSearchLimit)
	}
	hits, err := s.st.MemoryFiles().Search(ctx, search.Query{UserID: userID, Text: query, PathPrefix: prefix, Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]Result, len(hits))
	for i, h := range hits {
		out[i] = Result{Path: h.Path, Snippet: h.Snippet, Relevance: h.Relevance}
	}
	return out, nil
}

// FileView is a file as REST and the runner see it (upstream's shape).
type FileView struct {
	ID             string  `json:"id"`
	UserID         string  `json:"userId"`
	OrgID          string  `json:"orgId"`
	Path           string  `json:"path"`
	Content        string  `json:"content"`
	Title          string  `json:"title"`
	Relevance      float64 `json:"relevance"`
	Pinned         bool    `json:"pinned"`
	Version        int     `json:"version"`
	CreatedAt      string  `json:"createdAt"`
	UpdatedAt      string  `json:"updatedAt"`
	LastAccessedAt string  `json:"lastAccessedAt"`
}

const isoLayout = "2006-01-02T15:04:05.000Z"

// View renders a file; nil stays nil.
func View(f *store.MemoryFile) *FileView {
	if f == nil {
		return nil
	}
	return &FileView{ID: f.ID, UserID: f.UserID, OrgID: "default", Path: f.Path, Content: f.Content, Title: f.Title,
		Relevance: f.Relevance, Pinned: f.Pinned, Version: f.Version, CreatedAt: f.CreatedAt.UTC().Format(isoLayout),
		UpdatedAt: f.UpdatedAt.UTC().Format(isoLayout), LastAccessedAt: f.LastAccessedAt.UTC().Format(isoLayout)}
}

// ListingView is a directory entry as clients see it.
type ListingView struct {
	Path      string `json:"path"`
	Size      int    `json:"size"`
	UpdatedAt string `json:"updatedAt"`
	Pinned    bool   `json:"pinned"`
}

// Listings renders a directory listing (never nil).
func Listings(l []Listing) []ListingView {
	out := make([]ListingView, len(l))
	for i, e := range l {
		out[i] = ListingView{Path: e.Path, Size: e.Size, UpdatedAt: e.UpdatedAt.UTC().Format(isoLayout), Pinned: e.Pinned}
	}
	return out
}

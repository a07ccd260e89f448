// Package workspace reads a session's workspace on this server for its
// owner: find files by name, search their text, read one, list a folder
// (upstream's /api/files/find|search|read|list, which upstream proxies to
// the sandbox's OpenCode server).
//
// Every access goes through os.Root on the workspace directory, so neither
// a path nor a symbolic link inside the workspace can reach a file outside
// it; paths with ".." segments and absolute paths are refused before that.
// Walks do not follow symbolic links. Every operation is bounded: bytes
// read, files visited, results returned.
package workspace

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/store"
)

// Sessions finds a session that the user owns; any other session is an
// apperr not-found. The session manager is one.
type Sessions interface {
	Get(ctx context.Context, userID, id string) (*store.Session, error)
}

// Locator returns the directory of a session's workspace. A nil Locator
// means that workspaces are not on this server (external runners).
type Locator func(sessionID string) (string, error)

// Limits bound the work of one request. Zero fields take the defaults.
type Limits struct {
	// ReadBytes: the largest file Read returns (2 MiB).
	ReadBytes int64
	// WalkEntries: files and folders Find and Search visit (100,000).
	WalkEntries int
	// SearchBytes: bytes Search reads in all (64 MiB).
	SearchBytes int64
	// SearchFileBytes: files larger than this are not searched (1 MiB).
	SearchFileBytes int64
	// ListEntries: entries List returns (10,000).
	ListEntries int
	// LineBytes: the longest line text a search result carries (500).
	LineBytes int
}

func (l *Limits) setDefaults() {
	if l.ReadBytes == 0 {
		l.ReadBytes = 2 << 20
	}
	if l.WalkEntries == 0 {
		l.WalkEntries = 100_000
	}
	if l.SearchBytes == 0 {
		l.SearchBytes = 64 << 20
	}
	if l.SearchFileBytes == 0 {
		l.SearchFileBytes = 1 << 20
	}
	if l.ListEntries == 0 {
		l.ListEntries = 10_000
	}
	if l.LineBytes == 0 {
		l.LineBytes = 500
	}
}

// MaxResults bounds the limit of Find and Search.
const MaxResults = 1000

// skipDir reports the folders that Find and Search do not walk (List
// leaves out only .git).
func skipDir(name string) bool { return name == ".git" || name == "node_modules" }

// Service answers the workspace routes.
type Service struct {
	sessions Sessions
	locate   Locator
	limits   Limits
}

// New returns the service; locate is nil when runners are external.
func New(sessions Sessions, locate Locator, limits Limits) *Service {
	limits.setDefaults()
	return &Service{sessions: sessions, locate: locate, limits: limits}
}

// Limits returns the limits in force.
func (s *Service) Limits() Limits { return s.limits }

// open checks that the user owns the session and opens its workspace.
func (s *Service) open(ctx context.Context, userID, sessionID string) (*os.Root, error) {
	if sessionID == "" {
		return nil, apperr.Invalid("sessionId", "sessionId is required")
	}
	sess, err := s.sessions.Get(ctx, userID, sessionID)
	if err != nil {
		return nil, err
	}
	if s.locate == nil {
		return nil, &apperr.Error{Kind: apperr.KindConflict, Code: "NO_LOCAL_WORKSPACE",
			Message: "This server runs sessions on external runners: the session's workspace is not on this server"}
	}
	dir, err := s.locate(sess.ID)
	if err != nil {
		return nil, fmt.Errorf("locate workspace: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, apperr.NotFound("Workspace")
	}
	if err != nil {
		return nil, fmt.Errorf("open workspace: %w", err)
	}
	return root, nil
}

// cleanPath turns a request path into one relative to the workspace
// root: "" and "/" are the root itself; other absolute paths, ".."
// segments and NUL bytes are refused.
func cleanPath(field, p string, rootOK bool) (string, error) {
	if p == "" || p == "/" || p == "." {
		if rootOK {
			return ".", nil
		}
		if p == "" {
			return "", apperr.Invalid(field, "%s is required", field)
		}
		return "", apperr.Invalid(field, "%s must name a file", field)
	}
	if strings.ContainsRune(p, 0) || !utf8.ValidString(p) || len(p) > 4096 {
		return "", apperr.Invalid(field, "%s must be at most 4096 bytes of UTF-8 text without NUL", field)
	}
	if strings.HasPrefix(p, "/") {
		return "", apperr.Invalid(field, "%s must be relative to the workspace, not absolute", field)
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == ".." {
			return "", apperr.Invalid(field, "%s must not contain '..' segments", field)
		}
	}
	return path.Clean(p), nil
}

// fileErr renders the errors of opening a path inside the root.
func fileErr(field, p string, err error) error {
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return apperr.NotFound("File")
	case errors.Is(err, syscall.ELOOP):
		return apperr.Invalid(field, "%s goes through too many symbolic links", field)
	case errors.As(err, &pe) && pe.Err.Error() == "path escapes from parent":
		// os.Root's (unexported) error for a symbolic link that leads
		// outside the root.
		return apperr.Invalid(field, "%s leads outside the workspace (through a symbolic link)", field)
	case errors.Is(err, fs.ErrPermission):
		return apperr.Forbidden(fmt.Sprintf("%s cannot be read", p))
	}
	return err
}

// File is the content of a workspace file. Text is returned as is; other
// bytes as base64 with Encoding "base64".
type File struct {
	Path     string
	Content  string
	Encoding string
	Size     int64
}

// Read returns a file's content, up to Limits.ReadBytes.
func (s *Service) Read(ctx context.Context, userID, sessionID, p string) (*File, error) {
	rel, err := cleanPath("path", p, false)
	if err != nil {
		return nil, err
	}
	root, err := s.open(ctx, userID, sessionID)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	// Stat before opening: opening a FIFO would block.
	fi, err := root.Stat(rel)
	if err != nil {
		return nil, fileErr("path", p, err)
	}
	if fi.IsDir() {
		return nil, apperr.Invalid("path", "%s is a folder: list it instead", p)
	}
	if !fi.Mode().IsRegular() {
		return nil, apperr.Invalid("path", "%s is not a regular file", p)
	}
	if fi.Size() > s.limits.ReadBytes {
		return nil, &apperr.Error{Kind: apperr.KindTooLarge, Message: fmt.Sprintf("%s is %d bytes; files over %d bytes cannot be read here", p, fi.Size(), s.limits.ReadBytes),
			Details: map[string]any{"limit": s.limits.ReadBytes, "size": fi.Size()}}
	}
	f, err := root.Open(rel)
	if err != nil {
		return nil, fileErr("path", p, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, s.limits.ReadBytes))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	out := &File{Path: p, Size: int64(len(b))}
	if utf8.Valid(b) && !bytes.ContainsRune(b, 0) {
		out.Content = string(b)
	} else {
		out.Content, out.Encoding = base64.StdEncoding.EncodeToString(b), "base64"
	}
	return out, nil
}

// Entry is one entry of a folder.
type Entry struct {
	Name string
	Path string // relative to the workspace root
	Dir  bool
}

// Listing is a folder's entries: folders first, then files, by name.
type Listing struct {
	Entries   []Entry
	Truncated bool
}

// List returns a folder's entries (the root for "" or "/"). Symbolic links
// are listed as what they point to; links that lead outside the workspace
// or nowhere are left out, as is .git.
func (s *Service) List(ctx context.Context, userID, sessionID, p string) (*Listing, error) {
	rel, err := cleanPath("path", p, true)
	if err != nil {
		return nil, err
	}
	root, err := s.open(ctx, userID, sessionID)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	if fi, err := root.Stat(rel); err != nil {
		return nil, fileErr("path", p, err)
	} else if !fi.IsDir() {
		return nil, apperr.Invalid("path", "%s is a file: read it instead", p)
	}
	d, err := root.Open(rel)
	if err != nil {
		return nil, fileErr("path", p, err)
	}
	defer d.Close()
	out := &Listing{Entries: []Entry{}}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch, err := d.ReadDir(256)
		for _, e := range batch {
			if e.Name() == ".git" {
				continue
			}
			if len(out.Entries) == s.limits.ListEntries {
				out.Truncated = true
				break
			}
			ep := path.Join(rel, e.Name())
			isDir := e.IsDir()
			if e.Type()&fs.ModeSymlink != 0 {
				fi, err := root.Stat(ep) // follows the link, within the root only
				if err != nil {
					continue
				}
				isDir = fi.IsDir()
			}
			out.Entries = append(out.Entries, Entry{Name: e.Name(), Path: ep, Dir: isDir})
		}
		if out.Truncated || errors.Is(err, io.EOF) || len(batch) == 0 {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
	}
	slices.SortFunc(out.Entries, func(a, b Entry) int {
		if a.Dir != b.Dir {
			if a.Dir {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// walk visits the regular files of the workspace (not following links,
// skipping the folders of skipDir) until fn returns false or the entry budget is spent;
// it reports whether the walk was cut short.
func (s *Service) walk(ctx context.Context, root *os.Root, fn func(p string, d fs.DirEntry) bool) (bool, error) {
	visited := 0
	cut := false
	errStop := errors.New("stop")
	err := fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "." {
				return err
			}
			return nil // unreadable folder: skip it
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if visited++; visited > s.limits.WalkEntries {
			cut = true
			return errStop
		}
		if d.IsDir() {
			if p != "." && skipDir(d.Name()) {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if !fn(p, d) {
			cut = true
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return cut, err
	}
	return cut, nil
}

// Find returns up to limit file paths that match query fuzzily (its
// characters in order, case-insensitive): names containing the query
// first, then paths containing it, then the rest, shorter paths first.
func (s *Service) Find(ctx context.Context, userID, sessionID, query string, limit int) ([]string, error) {
	if strings.TrimSpace(query) == "" {
		return nil, apperr.Invalid("query", "query is required")
	}
	if limit < 1 || limit > MaxResults {
		return nil, apperr.Invalid("limit", "limit must be from 1 to %d", MaxResults)
	}
	root, err := s.open(ctx, userID, sessionID)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	q := strings.ToLower(query)
	type hit struct {
		p     string
		score int
	}
	var hits []hit
	_, err = s.walk(ctx, root, func(p string, d fs.DirEntry) bool {
		lp := strings.ToLower(p)
		switch {
		case strings.Contains(strings.ToLower(d.Name()), q):
			hits = append(hits, hit{p, 0})
		case strings.Contains(lp, q):
			hits = append(hits, hit{p, 1})
		case subsequence(lp, q):
			hits = append(hits, hit{p, 2})
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(hits, func(a, b hit) int {
		if a.score != b.score {
			return a.score - b.score
		}
		if len(a.p) != len(b.p) {
			return len(a.p) - len(b.p)
		}
		return strings.Compare(a.p, b.p)
	})
	out := make([]string, 0, min(limit, len(hits)))
	for _, h := range hits[:min(limit, len(hits))] {
		out = append(out, h.p)
	}
	return out, nil
}

func subsequence(s, sub string) bool {
	for _, r := range sub {
		i := strings.IndexRune(s, r)
		if i < 0 {
			return false
		}
		s = s[i+utf8.RuneLen(r):]
	}
	return true
}

// Match is one line that holds the query.
type Match struct {
	Path    string
	Line    int // from 1
	Content string
}

// SearchResult is what Search found; Truncated says a bound stopped it
// (results, files visited or bytes read).
type SearchResult struct {
	Matches   []Match
	Truncated bool
}

// Search finds lines that contain query as literal text, case-insensitive
// unless the query has an upper-case letter (ripgrep's smart case). Binary
// files and files over Limits.SearchFileBytes are skipped.
func (s *Service) Search(ctx context.Context, userID, sessionID, query string, limit int) (*SearchResult, error) {
	if query == "" {
		return nil, apperr.Invalid("query", "query is required")
	}
	if len(query) > 1000 || strings.ContainsAny(query, "\n\x00") {
		return nil, apperr.Invalid("query", "query must be one line of at most 1000 bytes")
	}
	if limit < 1 || limit > MaxResults {
		return nil, apperr.Invalid("limit", "limit must be from 1 to %d", MaxResults)
	}
	root, err := s.open(ctx, userID, sessionID)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	fold := !strings.ContainsFunc(query, unicode.IsUpper)
	needle := []byte(query)
	if fold {
		needle = bytes.ToLower(needle)
	}
	out := &SearchResult{Matches: []Match{}}
	var budget = s.limits.SearchBytes
	fsys := root.FS()
	cut, err := s.walk(ctx, root, func(p string, d fs.DirEntry) bool {
		fi, err := d.Info()
		if err != nil || fi.Size() > s.limits.SearchFileBytes || fi.Size() == 0 {
			return true
		}
		if fi.Size() > budget {
			out.Truncated = true
			return false
		}
		b, err := readUpTo(fsys, p, s.limits.SearchFileBytes)
		if err != nil {
			return true
		}
		budget -= int64(len(b))
		if bytes.IndexByte(b[:min(len(b), 8000)], 0) >= 0 {
			return true // binary
		}
		hay := b
		if fold {
			hay = bytes.ToLower(b)
		}
		if !bytes.Contains(hay, needle) {
			return true
		}
		for i, line := range bytes.Split(b, []byte("\n")) {
			l := line
			if fold {
				l = bytes.ToLower(line)
			}
			if !bytes.Contains(l, needle) {
				continue
			}
			if len(out.Matches) == limit {
				out.Truncated = true
				return false
			}
			out.Matches = append(out.Matches, Match{Path: p, Line: i + 1, Content: clip(string(bytes.TrimRight(line, "\r")), s.limits.LineBytes)})
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	out.Truncated = out.Truncated || cut
	return out, nil
}

// readUpTo reads a file that must not be over n bytes (it may have grown
// since it was listed).
func readUpTo(fsys fs.FS, name string, n int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, n+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > n {
		return nil, errors.New("file grew past the search limit")
	}
	return b, nil
}

// clip cuts s to at most n bytes on a rune boundary, valid UTF-8.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

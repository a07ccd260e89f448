// Package artifacts keeps the files a session saves (upstream's "backups"):
// objects in blob storage under backups/<user>/sessions/<session>/artifacts/,
// the layout upstream uses in R2, so that only a session's owner reaches
// them and data can move between the two.
package artifacts

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/blob"
)

// DefaultMaxUploadBytes bounds an upload unless configured otherwise.
const DefaultMaxUploadBytes = 100 << 20

// MaxListLimit bounds a page of the list.
const MaxListLimit = blob.MaxListLimit

// Sessions finds a session that the user owns; any other session is an
// apperr not-found. The session manager is one.
type Sessions interface {
	Get(ctx context.Context, userID, id string) (*store.Session, error)
}

// Options configure the service.
type Options struct {
	// MaxUploadBytes bounds one artifact (default DefaultMaxUploadBytes).
	MaxUploadBytes int64
	// Now is the clock that names backups (default time.Now).
	Now func() time.Time
}

// Service stores and serves artifacts.
type Service struct {
	blob     blob.Storage
	sessions Sessions
	max      int64
	now      func() time.Time
}

// New returns the service over a blob storage.
func New(b blob.Storage, sessions Sessions, o Options) *Service {
	if o.MaxUploadBytes <= 0 {
		o.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{blob: b, sessions: sessions, max: o.MaxUploadBytes, now: o.Now}
}

// MaxUploadBytes is the largest artifact accepted.
func (s *Service) MaxUploadBytes() int64 { return s.max }

// Stored describes an artifact just written.
type Stored struct {
	Key  string
	Size int64
	ETag string
}

// File is one listed artifact.
type File struct {
	Key      string
	Size     int64
	Uploaded time.Time
}

// Page is a page of the list and the cursor of the next one ("" if none).
type Page struct {
	Files  []File
	Cursor string
}

// root returns the session's artifact prefix after checking that the
// user owns the session.
func (s *Service) root(ctx context.Context, userID, sessionID string) (string, error) {
	if sessionID == "" {
		return "", apperr.Invalid("sessionId", "sessionId is required")
	}
	sess, err := s.sessions.Get(ctx, userID, sessionID)
	if err != nil {
		return "", err
	}
	return "backups/" + sess.UserID + "/sessions/" + sess.ID + "/artifacts/", nil
}

// checkKey validates an artifact key (relative to the session's root).
func checkKey(key string) error {
	if key == "" {
		return apperr.Invalid("key", "key is required")
	}
	if err := blob.ValidateKey(key); err != nil {
		return apperr.Invalid("key", "key %q is not allowed: %s", key, strings.TrimPrefix(err.Error(), blob.ErrInvalidKey.Error()+": "))
	}
	return nil
}

// storageErr renders the blob errors a user can cause.
func storageErr(err error) error {
	switch {
	case errors.Is(err, blob.ErrNotFound):
		return apperr.NotFound("File")
	case errors.Is(err, blob.ErrConflict):
		return apperr.Conflict("The key clashes with an existing artifact: one key cannot be both a file and a folder of others")
	}
	return err
}

// Backup stores text content under "<unix ms>_<base name of path>" and
// returns the key, as upstream's POST /api/files/backup does. A path with
// ".." segments or control characters is refused.
func (s *Service) Backup(ctx context.Context, userID, sessionID, path, content string) (string, error) {
	root, err := s.root(ctx, userID, sessionID)
	if err != nil {
		return "", err
	}
	if path == "" {
		return "", apperr.Invalid("path", "path is required")
	}
	if content == "" {
		return "", apperr.Invalid("content", "content is required")
	}
	if len(path) > 1024 || !utf8.ValidString(path) || strings.ContainsFunc(path, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", apperr.Invalid("path", "path must be at most 1024 bytes of text without control characters")
	}
	for seg := range strings.SplitSeq(strings.ReplaceAll(path, "\\", "/"), "/") {
		if seg == ".." {
			return "", apperr.Invalid("path", "path must not contain '..' segments")
		}
	}
	if int64(len(content)) > s.max {
		return "", tooLarge(s.max)
	}
	base := path[strings.LastIndexByte(path, '/')+1:]
	if base == "" {
		base = "file"
	}
	key := fmt.Sprintf("%d_%s", s.now().UnixMilli(), base)
	if err := blob.ValidateKey(key); err != nil {
		return "", apperr.Invalid("path", "the file name %q cannot name an artifact: %s", base, strings.TrimPrefix(err.Error(), blob.ErrInvalidKey.Error()+": "))
	}
	_, err = s.blob.Put(ctx, root+key, strings.NewReader(content), blob.PutOptions{
		Size: int64(len(content)), Metadata: map[string]string{"original-path": path},
	})
	if err != nil {
		return "", storageErr(err)
	}
	return key, nil
}

func tooLarge(limit int64) error {
	return &apperr.Error{Kind: apperr.KindTooLarge, Message: fmt.Sprintf("Artifacts are limited to %d bytes", limit),
		Details: map[string]any{"limit": limit}}
}

// errTooLarge marks a body that passed the limit.
var errTooLarge = errors.New("artifact too large")

// limitReader fails once more than n bytes have been read.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	if l.n < 0 {
		return k, errTooLarge
	}
	return k, err
}

// Upload streams body into the artifact key, replacing what is there.
// size is the declared length (-1 if unknown); contentType may be empty.
// A body over the limit is refused, before reading when the size says so,
// and the artifact stays as it was.
func (s *Service) Upload(ctx context.Context, userID, sessionID, key string, body io.Reader, size int64, contentType string) (*Stored, error) {
	root, err := s.root(ctx, userID, sessionID)
	if err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if contentType != "" {
		mt, params, err := mime.ParseMediaType(contentType)
		if err != nil || len(contentType) > 255 {
			return nil, apperr.Invalid("Content-Type", "Content-Type %q is not a media type", contentType)
		}
		contentType = mime.FormatMediaType(mt, params)
	}
	if size > s.max {
		return nil, tooLarge(s.max)
	}
	opts := blob.PutOptions{ContentType: contentType}
	if size > 0 {
		opts.Size = size
	}
	info, err := s.blob.Put(ctx, root+key, &limitReader{r: body, n: s.max}, opts)
	if errors.Is(err, errTooLarge) {
		return nil, tooLarge(s.max)
	}
	if errors.Is(err, blob.ErrSizeMismatch) {
		return nil, apperr.Invalid("Content-Length", "The body's length differs from Content-Length")
	}
	if err != nil {
		return nil, storageErr(err)
	}
	return &Stored{Key: key, Size: info.Size, ETag: info.ETag}, nil
}

// List returns a page of the session's artifacts whose keys start with
// prefix, in key order. Keys are relative to the session's artifact root.
func (s *Service) List(ctx context.Context, userID, sessionID, prefix, cursor string, limit int) (*Page, error) {
	root, err := s.root(ctx, userID, sessionID)
	if err != nil {
		return nil, err
	}
	if err := blob.ValidatePrefix(prefix); err != nil {
		return nil, apperr.Invalid("prefix", "prefix %q is not allowed: %s", prefix, strings.TrimPrefix(err.Error(), blob.ErrInvalidKey.Error()+": "))
	}
	after := ""
	if cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || blob.ValidateKey(string(raw)) != nil {
			return nil, apperr.Invalid("cursor", "cursor is not one this server issued")
		}
		after = root + string(raw)
	}
	if limit < 1 || limit > MaxListLimit {
		return nil, apperr.Invalid("limit", "limit must be from 1 to %d", MaxListLimit)
	}
	page, err := s.blob.List(ctx, root+prefix, after, limit)
	if err != nil {
		return nil, err
	}
	out := &Page{Files: make([]File, 0, len(page.Items))}
	for _, it := range page.Items {
		out.Files = append(out.Files, File{Key: strings.TrimPrefix(it.Key, root), Size: it.Size, Uploaded: it.ModTime})
	}
	if page.Next != "" {
		out.Cursor = base64.RawURLEncoding.EncodeToString([]byte(strings.TrimPrefix(page.Next, root)))
	}
	return out, nil
}

// Stat describes an artifact.
func (s *Service) Stat(ctx context.Context, userID, sessionID, key string) (blob.Info, error) {
	root, err := s.root(ctx, userID, sessionID)
	if err != nil {
		return blob.Info{}, err
	}
	if err := checkKey(key); err != nil {
		return blob.Info{}, err
	}
	info, err := s.blob.Stat(ctx, root+key)
	if err != nil {
		return blob.Info{}, storageErr(err)
	}
	info.Key = key
	return info, nil
}

// Open opens an artifact, or a range of it; a range it cannot satisfy (the
// artifact shrank since the caller's Stat) is blob.ErrInvalidRange.
func (s *Service) Open(ctx context.Context, userID, sessionID, key string, rng *blob.Range) (*blob.Object, error) {
	root, err := s.root(ctx, userID, sessionID)
	if err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	obj, err := s.blob.Get(ctx, root+key, rng)
	if err != nil {
		if errors.Is(err, blob.ErrInvalidRange) {
			return nil, err
		}
		return nil, storageErr(err)
	}
	obj.Key = key
	return obj, nil
}

// Delete removes an artifact; a missing one is not found.
func (s *Service) Delete(ctx context.Context, userID, sessionID, key string) error {
	root, err := s.root(ctx, userID, sessionID)
	if err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	if _, err := s.blob.Stat(ctx, root+key); err != nil {
		return storageErr(err)
	}
	return storageErr(s.blob.Delete(ctx, root+key))
}

// Package blob is the object storage seam: a Storage holds opaque objects
// under string keys, with a content type and a little metadata. Drivers sit
// beside it: fsblob (files under the data dir, the default) and s3blob (any
// S3-compatible service: AWS S3, MinIO, Cloudflare R2). Both pass the
// contract suite in blobtest.
//
// Keys are validated the same way by every driver (ValidateKey), so data
// can move between drivers and no key can name a path outside a driver's
// root.
package blob

import (
	"context"
	"errors"
	"io"
	"time"
)

var (
	// ErrNotFound: no object has the key.
	ErrNotFound = errors.New("blob: not found")
	// ErrInvalidKey: the key, prefix or cursor breaks the key rules.
	ErrInvalidKey = errors.New("blob: invalid key")
	// ErrInvalidRange: the range starts at or beyond the object's end, or
	// is not a range at all (negative offset, zero length).
	ErrInvalidRange = errors.New("blob: range not satisfiable")
	// ErrConflict: the key cannot coexist with an existing key. Only the
	// filesystem driver has this: "a" and "a/b" cannot both be objects,
	// since "a" would be both a file and a directory.
	ErrConflict = errors.New("blob: key conflicts with an existing key")
	// ErrSizeMismatch: Put was told a size that the body did not have.
	ErrSizeMismatch = errors.New("blob: body size does not match the declared size")
)

// Storage stores objects. Implementations are safe for concurrent use. A
// Put replaces an object atomically: readers see the old object or the new
// one, never a mix, and a Put that fails (a body that errors, a cancelled
// context) leaves the old object as it was.
type Storage interface {
	// List returns objects whose keys start with prefix, in byte order of
	// their keys, starting after cursor ("" for the first page), at most
	// limit (1 to MaxListLimit) of them. Page.Next is the cursor of the
	// next page, "" after the last. Items carry Key, Size and ModTime;
	// ETag and ContentType only where the driver has them cheaply.
	List(ctx context.Context, prefix, cursor string, limit int) (Page, error)
	// Stat returns an object's Info, or ErrNotFound.
	Stat(ctx context.Context, key string) (Info, error)
	// Get opens an object, or the byte range rng of it (nil: all of it).
	// A range that runs past the end is cut at the end; one that starts at
	// or beyond the end is ErrInvalidRange. The caller closes Body.
	Get(ctx context.Context, key string, rng *Range) (*Object, error)
	// Put stores body under key, replacing any object there, and returns
	// the new object's Info. The body is streamed, never held in memory
	// whole.
	Put(ctx context.Context, key string, body io.Reader, opts PutOptions) (Info, error)
	// Delete removes an object; deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
}

// MaxListLimit bounds List's limit (S3 returns at most 1000 per call).
const MaxListLimit = 1000

// Info describes a stored object.
type Info struct {
	Key  string
	Size int64
	// ModTime is when the object was written.
	ModTime time.Time
	// ETag identifies the object's version (no quotes): a Put always
	// gives a new ETag unless the content is the same, and equal content
	// may have different ETags (the file driver's change with every Put;
	// S3's are content hashes).
	ETag        string
	ContentType string
	// Metadata is what Put was given (Stat and Get only).
	Metadata map[string]string
}

// Page is one page of a List.
type Page struct {
	Items []Info
	// Next is the cursor of the next page; "" when this is the last.
	Next string
}

// Range is a byte range: Length bytes from Offset.
type Range struct {
	Offset int64
	Length int64
}

// Object is an open object: its Info (of the whole object), the range the
// body holds, and the body.
type Object struct {
	Info
	// Range is the part of the object that Body holds (all of it for a
	// whole-object Get).
	Range Range
	Body  io.ReadCloser
}

// PutOptions describe an object being stored.
type PutOptions struct {
	// ContentType defaults to application/octet-stream.
	ContentType string
	// Size is the body's length when known (> 0); 0 means unknown. A known
	// size lets drivers avoid buffering; a body that turns out longer or
	// shorter fails the Put with ErrSizeMismatch.
	Size int64
	// Metadata is stored with the object: keys are lower-case
	// [a-z0-9-], values any UTF-8 text, at most MaxMetadataBytes in all.
	Metadata map[string]string
}

// DefaultContentType is the type of objects stored without one.
const DefaultContentType = "application/octet-stream"

// Resolve cuts a range to an object of size bytes: nil means the whole
// object; a range starting at or past the end (or an empty or negative
// one) is ErrInvalidRange. An empty object's whole range is {0, 0}.
func (r *Range) Resolve(size int64) (Range, error) {
	if r == nil {
		return Range{0, size}, nil
	}
	if r.Offset < 0 || r.Length <= 0 || r.Offset >= size {
		return Range{}, ErrInvalidRange
	}
	n := r.Length
	if n > size-r.Offset {
		n = size - r.Offset
	}
	return Range{r.Offset, n}, nil
}

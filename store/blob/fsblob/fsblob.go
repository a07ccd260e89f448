// Package fsblob stores blobs as files under a root directory (by default
// <data-dir>/blobs): the object "a/b.txt" is the file <root>/a/b.txt, so
// the store can be read with ordinary tools, and its metadata is the JSON
// file <root>/a/.agentops-meta.b.txt beside it.
//
// Writes go to a temporary file under <root>/.agentops-tmp, are fsynced,
// and are renamed into place, so a reader (or a crash) sees the old object
// or the new one, never a part. Every file access goes through os.Root,
// which refuses names and symbolic links that lead outside the root, on
// top of blob.ValidateKey.
//
// The data file and its metadata file are renamed one after the other; the
// metadata records the data file's identity (inode, size, modification
// time), and readers that find the two out of step retry, then fall back to
// what the file itself says. One Storage must own a root: the renames of
// one key are serialized in memory, not with file locks, so two processes
// (or two Storages) must not share a root.
package fsblob

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/agentops/agentops/store/blob"
)

const (
	tmpDir     = blob.ReservedPrefix + "tmp"
	metaPrefix = blob.ReservedPrefix + "meta."
	// staleTemp is the age after which New removes leftover temporary
	// files (from a crash mid-Put).
	staleTemp = time.Hour
	copyBuf   = 256 << 10
)

// Storage is the filesystem driver.
type Storage struct {
	root    *os.Root
	dirName string
	// stripes serialize the renames (and deletes) of one key.
	stripes [64]sync.Mutex
}

var _ blob.Storage = (*Storage)(nil)

// New opens (creating it, 0700) the root directory and removes temporary
// files left by a crash.
func New(dir string) (*Storage, error) {
	if dir == "" {
		return nil, errors.New("fsblob: empty root directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("fsblob: create root: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("fsblob: open root: %w", err)
	}
	if err := root.MkdirAll(tmpDir, 0o700); err != nil {
		root.Close()
		return nil, fmt.Errorf("fsblob: create temp dir: %w", err)
	}
	s := &Storage{root: root, dirName: dir}
	s.removeStaleTemps(time.Now().Add(-staleTemp))
	return s, nil
}

// Close releases the root directory.
func (s *Storage) Close() error { return s.root.Close() }

func (s *Storage) removeStaleTemps(before time.Time) {
	d, err := s.root.Open(tmpDir)
	if err != nil {
		return
	}
	defer d.Close()
	entries, _ := d.ReadDir(-1)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(before) {
			_ = s.root.Remove(path.Join(tmpDir, e.Name()))
		}
	}
}

func (s *Storage) lock(key string) func() {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	m := &s.stripes[h.Sum32()%uint32(len(s.stripes))]
	m.Lock()
	return m.Unlock
}

// meta is the JSON beside each object.
type meta struct {
	// Stamp identifies the data file this metadata describes.
	Stamp       string            `json:"stamp"`
	ContentType string            `json:"contentType"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

func metaName(key string) string {
	dir, name := path.Split(key)
	return dir + metaPrefix + name
}

// stamp identifies a data file's version: its inode (where the platform
// has one), size and modification time.
func stamp(fi fs.FileInfo) string {
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = uint64(st.Ino)
	}
	return fmt.Sprintf("%d:%d:%d", ino, fi.Size(), fi.ModTime().UnixNano())
}

// info builds an object's Info from its data file and metadata; m is nil
// when the metadata is missing or out of step (after a crash between the
// two renames), and the file alone speaks.
//
// The ETag is derived from the file's stamp, not its content: every Put
// makes a new file, so a changed object always has a new ETag, and no
// upload pays for hashing (which halved upload throughput; see
// docs/benchmarks.md). Equal content written twice gets two ETags.
func info(key string, fi fs.FileInfo, m *meta) blob.Info {
	sum := sha256.Sum256([]byte(stamp(fi)))
	in := blob.Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime().UTC(), ETag: hex.EncodeToString(sum[:16]),
		ContentType: blob.DefaultContentType}
	if m != nil {
		in.ContentType, in.Metadata = m.ContentType, m.Metadata
	}
	return in
}

func (s *Storage) readMeta(key string) *meta {
	b, err := s.root.ReadFile(metaName(key))
	if err != nil {
		return nil
	}
	m := new(meta)
	if json.Unmarshal(b, m) != nil {
		return nil
	}
	return m
}

// notFound maps the errors of a lookup to ErrNotFound: a missing file, a
// path through a file ("x/y" when "x" is an object).
func notFound(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// consistent looks up key's data (with lookup) and metadata until they
// describe the same file; a writer between its two renames makes them
// differ for a moment.
func (s *Storage) consistent(key string, lookup func() (fs.FileInfo, func(), error)) (fs.FileInfo, *meta, error) {
	for try := 0; ; try++ {
		fi, release, err := lookup()
		if err != nil {
			if notFound(err) {
				return nil, nil, blob.ErrNotFound
			}
			return nil, nil, fmt.Errorf("fsblob: %w", err)
		}
		if fi.IsDir() || !fi.Mode().IsRegular() {
			release()
			return nil, nil, blob.ErrNotFound
		}
		m := s.readMeta(key)
		if m != nil && m.Stamp == stamp(fi) {
			return fi, m, nil
		}
		if try == 4 {
			return fi, nil, nil
		}
		release()
		time.Sleep(time.Duration(try+1) * time.Millisecond)
	}
}

// Stat implements blob.Storage.
func (s *Storage) Stat(ctx context.Context, key string) (blob.Info, error) {
	if err := blob.ValidateKey(key); err != nil {
		return blob.Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return blob.Info{}, err
	}
	fi, m, err := s.consistent(key, func() (fs.FileInfo, func(), error) {
		fi, err := s.root.Stat(key)
		return fi, func() {}, err
	})
	if err != nil {
		return blob.Info{}, err
	}
	return info(key, fi, m), nil
}

// Get implements blob.Storage. The open file keeps its content even if a
// Put replaces the object while it is read.
func (s *Storage) Get(ctx context.Context, key string, rng *blob.Range) (*blob.Object, error) {
	if err := blob.ValidateKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var f *os.File
	fi, m, err := s.consistent(key, func() (fs.FileInfo, func(), error) {
		var err error
		if f, err = s.root.Open(key); err != nil {
			return nil, nil, err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		return fi, func() { f.Close() }, nil
	})
	if err != nil {
		return nil, err
	}
	r, err := rng.Resolve(fi.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	if r.Offset > 0 {
		if _, err := f.Seek(r.Offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("fsblob: seek: %w", err)
		}
	}
	body := struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, r.Length), f}
	return &blob.Object{Info: info(key, fi, m), Range: r, Body: body}, nil
}

// Put implements blob.Storage.
func (s *Storage) Put(ctx context.Context, key string, body io.Reader, opts blob.PutOptions) (blob.Info, error) {
	if err := blob.ValidateKey(key); err != nil {
		return blob.Info{}, err
	}
	if err := blob.ValidateMetadata(opts.Metadata); err != nil {
		return blob.Info{}, err
	}
	if opts.ContentType == "" {
		opts.ContentType = blob.DefaultContentType
	}
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(tmpDir, hex.EncodeToString(rnd[:]))
	tmpData, tmpMeta := tmp+".data", tmp+".meta"
	defer func() {
		// Whatever was not renamed into place goes.
		_ = s.root.Remove(tmpData)
		_ = s.root.Remove(tmpMeta)
	}()

	fi, err := s.writeData(ctx, tmpData, body, opts.Size)
	if err != nil {
		return blob.Info{}, err
	}
	m := &meta{Stamp: stamp(fi), ContentType: opts.ContentType, Metadata: opts.Metadata}
	mb, err := json.Marshal(m)
	if err != nil {
		return blob.Info{}, fmt.Errorf("fsblob: encode metadata: %w", err)
	}
	if err := s.writeFile(tmpMeta, mb); err != nil {
		return blob.Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return blob.Info{}, err
	}
	if err := s.install(key, tmpData, tmpMeta); err != nil {
		return blob.Info{}, err
	}
	return info(key, fi, m), nil
}

// writeData streams body into a new file, fsyncs it and returns its
// FileInfo.
func (s *Storage) writeData(ctx context.Context, name string, body io.Reader, size int64) (fs.FileInfo, error) {
	f, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("fsblob: create temp file: %w", err)
	}
	defer f.Close()
	buf := make([]byte, copyBuf)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		k, rerr := body.Read(buf)
		if k > 0 {
			n += int64(k)
			if size > 0 && n > size {
				return nil, fmt.Errorf("%w: more than %d bytes", blob.ErrSizeMismatch, size)
			}
			if _, err := f.Write(buf[:k]); err != nil {
				return nil, fmt.Errorf("fsblob: write: %w", err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, fmt.Errorf("fsblob: read body: %w", rerr)
		}
	}
	if size > 0 && n != size {
		return nil, fmt.Errorf("%w: %d bytes, declared %d", blob.ErrSizeMismatch, n, size)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("fsblob: sync: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("fsblob: stat temp file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("fsblob: close: %w", err)
	}
	return fi, nil
}

func (s *Storage) writeFile(name string, data []byte) error {
	f, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("fsblob: create temp file: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("fsblob: write: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsblob: sync: %w", err)
	}
	return f.Close()
}

// install renames the data and then the metadata into place.
func (s *Storage) install(key, tmpData, tmpMeta string) error {
	unlock := s.lock(key)
	defer unlock()
	dir := path.Dir(key)
	for try := 0; ; try++ {
		if err := s.root.MkdirAll(dir, 0o700); err != nil {
			if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%w: a parent of %q is an object", blob.ErrConflict, key)
			}
			return fmt.Errorf("fsblob: create directory: %w", err)
		}
		if fi, err := s.root.Lstat(key); err == nil && fi.IsDir() {
			return fmt.Errorf("%w: %q holds other objects", blob.ErrConflict, key)
		}
		err := s.root.Rename(tmpData, key)
		if err == nil {
			break
		}
		// A Delete of the directory's last object removed it between
		// MkdirAll and Rename: make it again.
		if errors.Is(err, fs.ErrNotExist) && try < 3 {
			continue
		}
		if errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %q holds other objects", blob.ErrConflict, key)
		}
		return fmt.Errorf("fsblob: rename into place: %w", err)
	}
	if err := s.root.Rename(tmpMeta, metaName(key)); err != nil {
		return fmt.Errorf("fsblob: rename metadata into place: %w", err)
	}
	s.syncDir(dir)
	return nil
}

// syncDir makes the renames in dir durable.
func (s *Storage) syncDir(dir string) {
	if d, err := s.root.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// Delete implements blob.Storage. Directories left empty go too.
func (s *Storage) Delete(ctx context.Context, key string) error {
	if err := blob.ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	unlock := s.lock(key)
	defer unlock()
	fi, err := s.root.Lstat(key)
	if err != nil {
		if notFound(err) {
			return nil
		}
		return fmt.Errorf("fsblob: %w", err)
	}
	if fi.IsDir() {
		return nil // a "directory" of other keys is no object
	}
	if err := s.root.Remove(key); err != nil && !notFound(err) {
		return fmt.Errorf("fsblob: delete: %w", err)
	}
	if err := s.root.Remove(metaName(key)); err != nil && !notFound(err) {
		return fmt.Errorf("fsblob: delete metadata: %w", err)
	}
	for dir := path.Dir(key); dir != "."; dir = path.Dir(dir) {
		if s.root.Remove(dir) != nil {
			break // not empty (or gone): its parents are not empty either
		}
	}
	s.syncDir(path.Dir(key))
	return nil
}

// List implements blob.Storage: a walk in key order that only enters the
// directories that can hold keys after the cursor and under the prefix.
func (s *Storage) List(ctx context.Context, prefix, cursor string, limit int) (blob.Page, error) {
	if err := blob.ValidatePrefix(prefix); err != nil {
		return blob.Page{}, err
	}
	if err := blob.ValidateCursor(cursor); err != nil {
		return blob.Page{}, err
	}
	if limit < 1 || limit > blob.MaxListLimit {
		return blob.Page{}, fmt.Errorf("fsblob: list limit %d is not within 1..%d", limit, blob.MaxListLimit)
	}
	w := &walker{s: s, ctx: ctx, prefix: prefix, cursor: cursor, limit: limit}
	err := w.dir("")
	if errors.Is(err, errPageFull) {
		err = nil
	}
	if err != nil {
		return blob.Page{}, err
	}
	page := blob.Page{Items: w.items}
	if w.more {
		page.Next = w.items[len(w.items)-1].Key
	}
	return page, nil
}

var errPageFull = errors.New("page full")

type walker struct {
	s              *Storage
	ctx            context.Context
	prefix, cursor string
	limit          int
	items          []blob.Info
	more           bool
}

// wanted reports whether a directory "d/" can hold keys of the page.
func (w *walker) wanted(d string) bool {
	if !strings.HasPrefix(d, w.prefix) && !strings.HasPrefix(w.prefix, d) {
		return false
	}
	// Every key under d starts with d; if the cursor is past d and not
	// inside it, all of them come before the cursor.
	return w.cursor < d || strings.HasPrefix(w.cursor, d)
}

func (w *walker) dir(rel string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	name := rel
	if name == "" {
		name = "."
	}
	d, err := w.s.root.Open(strings.TrimSuffix(name, "/"))
	if err != nil {
		if notFound(err) {
			return nil // removed by a Delete meanwhile
		}
		return fmt.Errorf("fsblob: list: %w", err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("fsblob: list: %w", err)
	}
	type entry struct {
		key string // with a trailing slash for directories
		e   fs.DirEntry
	}
	list := make([]entry, 0, len(entries))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), blob.ReservedPrefix) {
			continue
		}
		k := rel + e.Name()
		if e.IsDir() {
			k += "/"
		} else if !e.Type().IsRegular() {
			continue
		}
		list = append(list, entry{k, e})
	}
	// Sorting "name/" for directories puts each directory's keys where
	// they belong among its siblings' keys.
	slices.SortFunc(list, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	for _, en := range list {
		if en.e.IsDir() {
			if w.wanted(en.key) {
				if err := w.dir(en.key); err != nil {
					return err
				}
			}
			continue
		}
		if en.key <= w.cursor || !strings.HasPrefix(en.key, w.prefix) {
			continue
		}
		if len(w.items) == w.limit {
			w.more = true
			return errPageFull
		}
		fi, err := en.e.Info()
		if err != nil {
			continue // deleted meanwhile
		}
		w.items = append(w.items, blob.Info{Key: en.key, Size: fi.Size(), ModTime: fi.ModTime().UTC()})
	}
	return nil
}

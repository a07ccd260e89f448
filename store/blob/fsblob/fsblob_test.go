package fsblob_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/agentops/agentops/store/blob"
	"github.com/agentops/agentops/store/blob/blobtest"
	"github.com/agentops/agentops/store/blob/fsblob"
)

func newStorage(t *testing.T) *fsblob.Storage {
	t.Helper()
	s, err := fsblob.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Storage { return newStorage(t) }, blobtest.Options{})
}

func TestLayoutAndCleanup(t *testing.T) {
	dir := t.TempDir()
	s, err := fsblob.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	blobtest.MustPut(t, s, "reports/2026/q1.txt", "numbers", blob.PutOptions{ContentType: "text/plain"})
	// The object is a plain file; its metadata sits beside it.
	if b, err := os.ReadFile(filepath.Join(dir, "reports", "2026", "q1.txt")); err != nil || string(b) != "numbers" {
		t.Fatalf("object file: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "reports", "2026", ".agentops-meta.q1.txt")); err != nil {
		t.Fatalf("metadata file: %v", err)
	}
	// A failed Put leaves no temporary file behind.
	_, _ = s.Put(ctx, "reports/x", iotest.ErrReader(errors.New("boom")), blob.PutOptions{})
	if left, _ := os.ReadDir(filepath.Join(dir, ".agentops-tmp")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	// Deleting the last object of a directory removes the directory.
	if err := s.Delete(ctx, "reports/2026/q1.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "reports")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("empty directories stay: %v", err)
	}
}

func TestStaleTempFilesRemovedOnOpen(t *testing.T) {
	dir := t.TempDir()
	s, err := fsblob.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	old := filepath.Join(dir, ".agentops-tmp", "crashed.data")
	fresh := filepath.Join(dir, ".agentops-tmp", "inflight.data")
	for _, p := range []string{old, fresh} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(old, time.Now().Add(-2*time.Hour), time.Now().Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	s = newStorageAt(t, dir)
	if _, err := os.Stat(old); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stale temp file stays: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatalf("recent temp file removed: %v", err)
	}
}

// A symbolic link planted inside the root cannot lead a key outside it.
func TestSymlinkCannotEscapeRoot(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("do not read"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "file-link")); err != nil {
		t.Fatal(err)
	}
	s := newStorageAt(t, dir)
	ctx := context.Background()
	if obj, err := s.Get(ctx, "link/secret", nil); err == nil {
		obj.Body.Close()
		t.Fatal("read a file outside the root through a symlink")
	}
	if obj, err := s.Get(ctx, "file-link", nil); err == nil {
		obj.Body.Close()
		t.Fatal("read a file outside the root through a symlink")
	}
	if _, err := s.Put(ctx, "link/planted", strings.NewReader("x"), blob.PutOptions{}); err == nil {
		t.Fatal("wrote through a symlink")
	}
	if _, err := os.Stat(filepath.Join(outside, "planted")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a file appeared outside the root: %v", err)
	}
	if err := s.Delete(ctx, "link/secret"); err == nil {
		if _, err := os.Stat(filepath.Join(outside, "secret")); err != nil {
			t.Fatalf("deleted a file outside the root: %v", err)
		}
	}
}

// After a crash between the data and metadata renames, the object is what
// its file says.
func TestDataAheadOfMetadata(t *testing.T) {
	dir := t.TempDir()
	s := newStorageAt(t, dir)
	old := blobtest.MustPut(t, s, "k", "old content", blob.PutOptions{ContentType: "text/plain"})
	if err := os.WriteFile(filepath.Join(dir, "k.new"), []byte("newer, longer content"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "k.new"), filepath.Join(dir, "k")); err != nil {
		t.Fatal(err)
	}
	body, obj := blobtest.MustRead(t, s, "k", nil)
	if body != "newer, longer content" || obj.Size != int64(len(body)) {
		t.Fatalf("read %q with size %d", body, obj.Size)
	}
	if obj.ETag == old.ETag || obj.ContentType != blob.DefaultContentType {
		t.Fatalf("stale metadata served: %+v", obj.Info)
	}
	st, err := s.Stat(context.Background(), "k")
	if err != nil || st.ETag != obj.ETag || st.Size != obj.Size {
		t.Fatalf("stat %+v %v, get %+v", st, err, obj.Info)
	}
}

func newStorageAt(t *testing.T, dir string) *fsblob.Storage {
	t.Helper()
	s, err := fsblob.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

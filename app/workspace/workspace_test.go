package workspace_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/workspace"
	"github.com/agentops/agentops/store"
)

// owner is a Sessions that knows one session of one user.
type owner struct{ user, session string }

func (o owner) Get(_ context.Context, userID, id string) (*store.Session, error) {
	if userID != o.user || id != o.session {
		return nil, apperr.NotFound("Session")
	}
	return &store.Session{ID: id, UserID: userID}, nil
}

func newService(t *testing.T, limits workspace.Limits) (*workspace.Service, string) {
	t.Helper()
	root := t.TempDir()
	ws := filepath.Join(root, "s1")
	if err := os.Mkdir(ws, 0o700); err != nil {
		t.Fatal(err)
	}
	return workspace.New(owner{"u", "s1"}, func(id string) (string, error) { return filepath.Join(root, id), nil }, limits), ws
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Search stops at its byte budget and says so.
func TestSearchByteBudget(t *testing.T) {
	s, ws := newService(t, workspace.Limits{SearchBytes: 3000})
	for i := range 10 {
		write(t, ws, fmt.Sprintf("f%02d.txt", i), strings.Repeat("needle\n", 100)) // 700 bytes each
	}
	res, err := s.Search(context.Background(), "u", "s1", "needle", 1000)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{}
	for _, m := range res.Matches {
		files[m.Path] = true
	}
	if len(files) != 4 || !res.Truncated {
		t.Fatalf("searched %d files (truncated %v), want 4 within 3000 bytes", len(files), res.Truncated)
	}
}

// Files over the per-file cap are skipped, and long lines clipped on a
// rune boundary.
func TestSearchFileCapAndLineClip(t *testing.T) {
	s, ws := newService(t, workspace.Limits{SearchFileBytes: 1000, LineBytes: 10})
	write(t, ws, "big.txt", strings.Repeat("needle ", 200))
	write(t, ws, "small.txt", "ééééé needle ééééé")
	res, err := s.Search(context.Background(), "u", "s1", "needle", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Matches) != 1 || res.Matches[0].Path != "small.txt" || res.Matches[0].Content != "ééééé" || res.Truncated {
		t.Fatalf("%+v", res)
	}
}

// Find and Search stop after WalkEntries entries.
func TestWalkBudget(t *testing.T) {
	s, ws := newService(t, workspace.Limits{WalkEntries: 20})
	for i := range 50 {
		write(t, ws, fmt.Sprintf("d/f%02d.txt", i), "needle")
	}
	paths, err := s.Find(context.Background(), "u", "s1", "f", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 || len(paths) >= 20 {
		t.Fatalf("found %d paths with a walk budget of 20", len(paths))
	}
	res, err := s.Search(context.Background(), "u", "s1", "needle", 1000)
	if err != nil || !res.Truncated || len(res.Matches) >= 20 {
		t.Fatalf("search: %d matches, truncated %v, %v", len(res.Matches), res.Truncated, err)
	}
}

func TestListCap(t *testing.T) {
	s, ws := newService(t, workspace.Limits{ListEntries: 5})
	for i := range 8 {
		write(t, ws, fmt.Sprintf("f%d", i), "x")
	}
	l, err := s.List(context.Background(), "u", "s1", "")
	if err != nil || len(l.Entries) != 5 || !l.Truncated {
		t.Fatalf("%+v %v", l, err)
	}
}

func TestOwnerChecked(t *testing.T) {
	s, _ := newService(t, workspace.Limits{})
	ctx := context.Background()
	if _, err := s.List(ctx, "someone-else", "s1", ""); err == nil {
		t.Fatal("another user listed the workspace")
	}
	if _, err := s.Read(ctx, "u", "s2", "x"); err == nil {
		t.Fatal("read a session the user does not have")
	}
}

// A cancelled request stops a walk.
func TestSearchHonoursContext(t *testing.T) {
	s, ws := newService(t, workspace.Limits{})
	write(t, ws, "a.txt", "needle")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Search(ctx, "u", "s1", "needle", 10); err == nil {
		t.Fatal("a cancelled search succeeded")
	}
}

// A FIFO in the workspace is refused, not opened (which would block).
func TestFIFONotOpened(t *testing.T) {
	s, ws := newService(t, workspace.Limits{})
	if err := syscall.Mkfifo(filepath.Join(ws, "pipe"), 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	done := make(chan error, 2)
	go func() {
		_, err := s.Read(context.Background(), "u", "s1", "pipe")
		done <- err
	}()
	go func() {
		_, err := s.List(context.Background(), "u", "s1", "pipe")
		done <- err
	}()
	for range 2 {
		select {
		case err := <-done:
			if e, ok := apperr.As(err); !ok || e.Kind != apperr.KindInvalid {
				t.Fatalf("error %v, want a 400", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("opened a FIFO and blocked")
		}
	}
	res, err := s.Search(context.Background(), "u", "s1", "x", 10)
	if err != nil || len(res.Matches) != 0 {
		t.Fatalf("search: %+v %v", res, err)
	}
}

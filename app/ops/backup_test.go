package ops_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/ops"
	"github.com/agentops/agentops/search"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/blob"
	"github.com/agentops/agentops/store/blob/fsblob"
)

const messagesPerSession = 4

// writer writes, until stopped, one session with its messages and one
// memory file per transaction, and counts what committed.
type writer struct {
	s         *store.Store
	userID    string
	committed atomic.Int64
	maxWait   atomic.Int64 // longest write, ns
	stop      chan struct{}
	wg        sync.WaitGroup
	err       error
}

func startWriter(t *testing.T, s *store.Store, userID string) *writer {
	w := &writer{s: s, userID: userID, stop: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		ctx := context.Background()
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			t0 := time.Now()
			err := s.InTx(ctx, func(tx *store.Store) error {
				now := store.Now()
				sess := &store.Session{ID: uuid.NewString(), UserID: userID, Workspace: "live", Status: store.StatusRunning,
					Purpose: "interactive", Agent: "script", QueueMode: "followup", LastActiveAt: now, CreatedAt: now, UpdatedAt: now}
				if err := tx.Sessions().Create(ctx, sess); err != nil {
					return err
				}
				for j := range messagesPerSession {
					if err := tx.Messages().Insert(ctx, &store.Message{ID: uuid.NewString(), SessionID: sess.ID, Seq: int64(j + 1),
						Role: "user", Content: "hi", CreatedAt: now, UpdatedAt: now}); err != nil {
						return err
					}
				}
				return tx.MemoryFiles().Insert(ctx, &store.MemoryFile{ID: uuid.NewString(), UserID: userID,
					Path: fmt.Sprintf("live/%d.md", i), Content: fmt.Sprintf("word%dx is here", i), Relevance: 1, Version: 1,
					CreatedAt: now, UpdatedAt: now, LastAccessedAt: now})
			})
			if err != nil {
				w.err = err
				return
			}
			if d := time.Since(t0).Nanoseconds(); d > w.maxWait.Load() {
				w.maxWait.Store(d)
			}
			w.committed.Add(1)
		}
	}()
	return w
}

func (w *writer) halt(t *testing.T) {
	close(w.stop)
	w.wg.Wait()
	if w.err != nil {
		t.Fatal(w.err)
	}
}

func mustBlobs(t *testing.T, dir string) *fsblob.Storage {
	t.Helper()
	b, err := fsblob.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestBackupWhileWriting: a backup taken while another goroutine writes
// sessions, messages and memory restores to a consistent state: integrity
// and foreign keys hold, every session has all its messages and counters,
// and search finds everything committed before the backup began.
func TestBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	in := mustSeed(t, 3, 3)
	live, err := store.Open(ctx, in.cfg.DatabaseURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	blobs := mustBlobs(t, filepath.Join(in.cfg.DataDir, "blobs"))
	for i := range 5 {
		body := strings.Repeat(fmt.Sprint(i), 1000*i+1)
		if _, err := blobs.Put(ctx, fmt.Sprintf("artifacts/a/%d.txt", i), strings.NewReader(body),
			blob.PutOptions{ContentType: "text/plain", Metadata: map[string]string{"n": fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	key, err := os.ReadFile(in.cfg.InstanceKeyFile)
	if err != nil {
		t.Fatal(err)
	}

	w := startWriter(t, live, in.userID)
	for w.committed.Load() < 20 {
		time.Sleep(time.Millisecond)
	}
	before := w.committed.Load()
	out := filepath.Join(t.TempDir(), "backup.tar.gz")
	res, err := ops.Backup(ctx, ops.BackupOptions{Store: live, Blob: blobs, Key: key, Out: out, Version: "test"})
	after := w.committed.Load()
	w.halt(t)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("backup: %d entries, %d bytes in %s (snapshot %s); %d transactions committed meanwhile, longest write %s",
		len(res.Manifest.Entries), res.Bytes, res.Elapsed, res.Snapshot, after-before, time.Duration(w.maxWait.Load()))
	if res.Manifest.Objects != 5 || !res.Manifest.Database || !res.Manifest.Key {
		t.Fatalf("manifest: %+v", res.Manifest)
	}
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*")); len(matches) > 0 {
		t.Errorf("backup left temporary files: %v", matches)
	}

	target := filepath.Join(t.TempDir(), "restored")
	var rblobs *fsblob.Storage
	rres, err := ops.Restore(ctx, ops.RestoreOptions{Archive: out, DataDir: target, DatabaseURL: filepath.Join(target, "agentops.db"),
		KeyFile: filepath.Join(target, "instance.key"), WorkspacesDir: filepath.Join(target, "workspaces"),
		OpenBlob: func(context.Context) (blob.Storage, error) {
			rblobs = mustBlobs(t, filepath.Join(target, "blobs"))
			return rblobs, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if rres.Objects != 5 || rres.Credentials != 1 {
		t.Errorf("restore: %+v", rres)
	}
	r := mustOpen(t, filepath.Join(target, "agentops.db"))
	if err := r.CheckIntegrity(ctx); err != nil {
		t.Fatal(err)
	}
	var bad []struct {
		ID string `bun:"id"`
	}
	if err := r.DB().NewRaw(`SELECT s.id FROM sessions s WHERE s.message_count != (SELECT count(*) FROM messages m WHERE m.session_id = s.id)
		OR (s.workspace = 'live' AND (SELECT count(*) FROM messages m WHERE m.session_id = s.id) != ?)`, messagesPerSession).Scan(ctx, &bad); err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Errorf("%d restored sessions lack messages or counts, e.g. %s", len(bad), bad[0].ID)
	}
	n, _ := r.Count(ctx, "memory_files")
	if n < before+1 {
		t.Errorf("restored %d memory files, want at least %d", n, before+1)
	}
	for i := range before {
		hits, err := r.MemoryFiles().Search(ctx, search.Query{UserID: in.userID, Text: fmt.Sprintf("word%dx", i)})
		if err != nil || len(hits) != 1 {
			t.Fatalf("search for memory %d written before the backup: %v, %v", i, hits, err)
		}
	}
	mustFind(t, r, in.userID)
	// The runners did not come with the backup: no session is left running.
	if live, _ := r.Sessions().ListLive(ctx); len(live) == 0 {
		t.Error("no live sessions restored")
	} else {
		for _, s := range live {
			if s.Status != store.StatusHibernated || s.SandboxID != "" {
				t.Fatalf("restored session %s is %s with sandbox %q", s.ID, s.Status, s.SandboxID)
			}
			if fi, err := os.Stat(filepath.Join(target, "workspaces", s.ID)); err != nil || !fi.IsDir() {
				t.Fatalf("restored session %s has no workspace: %v", s.ID, err)
			}
		}
	}
	for i := range 5 {
		obj, err := rblobs.Get(ctx, fmt.Sprintf("artifacts/a/%d.txt", i), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		if string(body) != strings.Repeat(fmt.Sprint(i), 1000*i+1) || obj.ContentType != "text/plain" || obj.Metadata["n"] != fmt.Sprint(i) {
			t.Errorf("object %d restored as %d bytes, %s, %v", i, len(body), obj.ContentType, obj.Metadata)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(target, "instance.key")); !bytes.Equal(got, key) {
		t.Error("the instance key was not restored")
	}
}

// TestBackupWorkspaces: --include-workspaces carries the workspace files,
// and the sessions keep their state.
func TestBackupWorkspaces(t *testing.T) {
	ctx := context.Background()
	in := mustSeed(t, 1, 1)
	ws := filepath.Join(in.cfg.DataDir, "workspaces")
	if err := os.MkdirAll(filepath.Join(ws, "s1", "src"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, "s1", "src", "main.go"), []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	live := mustOpen(t, in.cfg.DatabaseURL)
	out := filepath.Join(t.TempDir(), "b.tar")
	if _, err := ops.Backup(ctx, ops.BackupOptions{Store: live, WithoutKey: true, WorkspacesDir: ws, IncludeWorkspaces: true, Out: out}); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "r")
	res, err := ops.Restore(ctx, ops.RestoreOptions{Archive: out, DataDir: target, DatabaseURL: filepath.Join(target, "agentops.db"),
		KeyFile: filepath.Join(target, "instance.key"), WorkspacesDir: filepath.Join(target, "workspaces")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Hibernated != 0 || len(res.Warnings) == 0 {
		t.Errorf("restore with workspaces and without key: %+v", res)
	}
	got, err := os.ReadFile(filepath.Join(target, "workspaces", "s1", "src", "main.go"))
	if err != nil || string(got) != "package main\n" {
		t.Errorf("workspace file: %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(target, "instance.key")); err == nil {
		t.Error("a backup without the key restored one")
	}
}

// rewrite copies an archive, changing entries with edit (nil drops one).
func rewrite(t *testing.T, from, to string, edit func(name string, body []byte) []byte) {
	t.Helper()
	f, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		body = edit(hdr.Name, body)
		if body == nil {
			continue
		}
		hdr.Size = int64(len(body))
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	tw.Close()
	if err := os.WriteFile(to, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRestoreRefuses: a truncated or tampered archive, one from a newer
// agentops, and a target that is not empty are refused before anything
// is written, and the error names what is wrong.
func TestRestoreRefuses(t *testing.T) {
	ctx := context.Background()
	in := mustSeed(t, 2, 2)
	key, _ := os.ReadFile(in.cfg.InstanceKeyFile)
	out := filepath.Join(t.TempDir(), "good.tar")
	if _, err := ops.Backup(ctx, ops.BackupOptions{Store: mustOpen(t, in.cfg.DatabaseURL), Key: key, Out: out}); err != nil {
		t.Fatal(err)
	}
	if _, err := ops.Backup(ctx, ops.BackupOptions{Store: mustOpen(t, in.cfg.DatabaseURL), Key: key, Out: out}); err == nil {
		t.Error("a backup overwrote an existing archive")
	}
	if _, err := ops.Backup(ctx, ops.BackupOptions{Store: mustOpen(t, in.cfg.DatabaseURL), Out: out + "2"}); err == nil {
		t.Error("a backup without a key and without --without-key was taken")
	}
	good, _ := os.ReadFile(out)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tampered := bytes.Clone(good)
	tampered[512+4096] ^= 0xff // inside the first entry, the database
	newer := filepath.Join(dir, "newer.tar")
	rewrite(t, out, newer, func(name string, body []byte) []byte {
		if name != "manifest.json" {
			return body
		}
		var m map[string]any
		json.Unmarshal(body, &m)
		m["schema_versions"] = append(m["schema_versions"].([]any), "9999")
		b, _ := json.Marshal(m)
		return b
	})
	dropped := filepath.Join(dir, "dropped.tar")
	rewrite(t, out, dropped, func(name string, body []byte) []byte {
		if name == "instance.key" {
			return nil
		}
		return body
	})

	cases := []struct {
		name, archive, want string
	}{
		{"truncated", write("truncated.tar", good[:len(good)/2]), "truncated"},
		{"truncated before the manifest", write("nomanifest.tar", good[:len(good)-3000]), "manifest"},
		{"tampered", write("tampered.tar", tampered), "entry database/agentops.db does not match its checksum"},
		{"entry missing", dropped, "entry instance.key is in the manifest but not in the archive"},
		{"not an archive", write("junk.tar", []byte("hello")), "corrupt"},
		{"newer schema", newer, "9999"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "r")
			_, err := ops.Restore(ctx, ops.RestoreOptions{Archive: c.archive, DataDir: target, DatabaseURL: filepath.Join(target, "agentops.db"),
				KeyFile: filepath.Join(target, "instance.key"), WorkspacesDir: filepath.Join(target, "workspaces")})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error naming %q, got %v", c.want, err)
			}
			if _, err := os.Stat(target); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused restore wrote its target (%v)", err)
			}
		})
	}
	t.Run("target not empty", func(t *testing.T) {
		target := t.TempDir()
		write := filepath.Join(target, "something")
		os.WriteFile(write, []byte("x"), 0o600)
		_, err := ops.Restore(ctx, ops.RestoreOptions{Archive: out, DataDir: target, DatabaseURL: filepath.Join(target, "agentops.db"),
			KeyFile: filepath.Join(target, "instance.key"), WorkspacesDir: filepath.Join(target, "workspaces")})
		if !errors.Is(err, ops.ErrTargetNotEmptyRestore) {
			t.Fatalf("non-empty data dir: %v", err)
		}
		if entries, _ := os.ReadDir(target); len(entries) != 1 {
			t.Errorf("a refused restore wrote into the data dir: %d entries", len(entries))
		}
	})
}

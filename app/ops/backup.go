package ops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/blob"
)

// BackupOptions configure Backup.
type BackupOptions struct {
	// Store is the instance's database, opened without migrating. On
	// SQLite it is snapshotted; on Postgres it is left to pg_dump.
	Store *store.Store
	// Blob is the instance's object storage (nil: none is backed up).
	Blob blob.Storage
	// Key is the instance keyring's file content (nil: left out, with
	// WithoutKey; Backup refuses to leave it out silently).
	Key        []byte
	WithoutKey bool
	// WorkspacesDir is the local sandboxes' workspaces directory, copied
	// when IncludeWorkspaces is set.
	WorkspacesDir     string
	IncludeWorkspaces bool
	// Out is the archive to write (.tar, or .tar.gz/.tgz to compress). It
	// is written beside itself under a temporary name and renamed when
	// complete, so a failed backup leaves no partial archive under Out.
	Out      string
	Version  string
	Progress *Progress
}

// BackupResult is what Backup wrote.
type BackupResult struct {
	Manifest *Manifest
	Bytes    int64 // archive entries' content, before compression
	Elapsed  time.Duration
	// Snapshot is how long the database snapshot took (writers are not
	// blocked during it).
	Snapshot time.Duration
	Warnings []string
}

// Backup writes an archive of the instance: a consistent snapshot of the
// SQLite database, every object, the instance key and (optionally) the
// workspaces, with a manifest of checksums. It runs beside a serving
// server and takes none of its locks.
func Backup(ctx context.Context, o BackupOptions) (*BackupResult, error) {
	start := time.Now()
	if o.Key == nil && !o.WithoutKey {
		return nil, errors.New("no instance key to back up: give the key file (--instance-key-file), or pass --without-key to back up without it")
	}
	if _, err := os.Stat(o.Out); err == nil {
		return nil, fmt.Errorf("%s exists: choose a new name (backups are never overwritten)", o.Out)
	}
	dir := filepath.Dir(o.Out)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(o.Out)+".partial-*")
	if err != nil {
		return nil, fmt.Errorf("create archive: %w", err)
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		tmp.Close()
		if !ok {
			os.Remove(tmpName)
		}
	}()
	res := &BackupResult{}
	m := &Manifest{Format: ManifestFormat, CreatedAt: time.Now().UTC().Truncate(time.Second), Version: o.Version,
		Dialect: string(o.Store.Dialect()), Key: o.Key != nil, Workspaces: o.IncludeWorkspaces}
	aw := createArchive(tmp, compressed(o.Out))

	if o.Store.Dialect() == store.SQLite {
		if err := backupSQLite(ctx, o, aw, m, res, dir); err != nil {
			return nil, err
		}
	} else {
		res.Warnings = append(res.Warnings, "the database is on Postgres: back it up with pg_dump (see docs/operations.md); this archive holds the objects and the instance key")
		applied, err := o.Store.AppliedVersions(ctx)
		if err != nil {
			return nil, err
		}
		m.SchemaVersions = applied
	}
	if o.Key != nil {
		if err := aw.add(ManifestEntry{Name: keyEntry, Size: int64(len(o.Key))}, bytes.NewReader(o.Key), m.CreatedAt); err != nil {
			return nil, err
		}
	} else {
		res.Warnings = append(res.Warnings, "WITHOUT THE INSTANCE KEY: the stored credentials and webhook secrets in this backup cannot be opened unless you keep the key file yourself")
	}
	if o.Blob != nil {
		n, err := backupObjects(ctx, o, aw)
		if err != nil {
			return nil, err
		}
		m.Objects = n
	}
	if o.IncludeWorkspaces {
		if err := backupWorkspaces(ctx, o, aw, res); err != nil {
			return nil, err
		}
	}
	if err := aw.finish(m); err != nil {
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	// A link never replaces an existing file; where links are not
	// supported, rename (Out did not exist when the backup began).
	if err := os.Link(tmpName, o.Out); err == nil {
		os.Remove(tmpName)
	} else if errors.Is(err, fs.ErrExist) {
		ok = true // keep the finished archive under its temporary name
		return nil, fmt.Errorf("%s appeared during the backup: not overwritten (the archive is %s)", o.Out, tmpName)
	} else if err := os.Rename(tmpName, o.Out); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	ok = true
	res.Manifest, res.Bytes, res.Elapsed = m, aw.bytes, time.Since(start)
	return res, nil
}

func backupSQLite(ctx context.Context, o BackupOptions, aw *archiveWriter, m *Manifest, res *BackupResult, dir string) error {
	snapDir, err := os.MkdirTemp(dir, ".agentops-snapshot-*")
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer os.RemoveAll(snapDir)
	snap := filepath.Join(snapDir, "agentops.db")
	o.Progress.Printf("snapshotting the database")
	t0 := time.Now()
	if err := o.Store.VacuumInto(ctx, snap); err != nil {
		return err
	}
	res.Snapshot = time.Since(t0)
	s, err := store.Open(ctx, snap, store.Options{MaxConns: 2})
	if err != nil {
		return fmt.Errorf("open snapshot: %w", err)
	}
	applied, err := s.AppliedVersions(ctx)
	if err == nil {
		for _, t := range store.Tables() {
			var n int64
			if n, err = s.Count(ctx, t.Name); err != nil {
				break
			}
			m.Tables = append(m.Tables, ManifestTable{Name: t.Name, Rows: n})
		}
	}
	s.Close()
	if err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	m.SchemaVersions, m.Database = applied, true
	f, err := os.Open(snap)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	o.Progress.Start("database", "files", 1)
	defer o.Progress.End()
	if err := aw.add(ManifestEntry{Name: databaseEntry, Size: fi.Size()}, f, m.CreatedAt); err != nil {
		return err
	}
	o.Progress.Add(1, fi.Size())
	return nil
}

func backupObjects(ctx context.Context, o BackupOptions, aw *archiveWriter) (int, error) {
	o.Progress.Start("objects", "objects", -1)
	defer o.Progress.End()
	n, cursor := 0, ""
	for {
		page, err := o.Blob.List(ctx, "", cursor, blob.MaxListLimit)
		if err != nil {
			return n, fmt.Errorf("list objects: %w", err)
		}
		for _, it := range page.Items {
			obj, err := o.Blob.Get(ctx, it.Key, nil)
			if errors.Is(err, blob.ErrNotFound) {
				continue // deleted since the listing
			}
			if err != nil {
				return n, fmt.Errorf("read object %s: %w", it.Key, err)
			}
			e := ManifestEntry{Name: blobPrefix + it.Key, Size: obj.Size, ContentType: obj.ContentType, Metadata: obj.Metadata}
			err = aw.add(e, obj.Body, obj.ModTime)
			obj.Body.Close()
			if err != nil {
				return n, err
			}
			n++
			o.Progress.Add(1, obj.Size)
		}
		if page.Next == "" {
			return n, nil
		}
		cursor = page.Next
	}
}

func backupWorkspaces(ctx context.Context, o BackupOptions, aw *archiveWriter, res *BackupResult) error {
	o.Progress.Start("workspaces", "files", -1)
	defer o.Progress.End()
	root := o.WorkspacesDir
	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !d.Type().IsRegular() {
			if d.Type()&fs.ModeSymlink != 0 {
				res.Warnings = append(res.Warnings, "skipped symlink "+p)
			}
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		name := workspacePrefix + filepath.ToSlash(rel)
		if !validEntryName(name) {
			res.Warnings = append(res.Warnings, "skipped "+p+": its name cannot be archived")
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		// A file an agent is writing may change as it is read: archive
		// what the first read gives.
		data := make([]byte, 0, fi.Size())
		buf := bytes.NewBuffer(data)
		if _, err := buf.ReadFrom(f); err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		mode := int64(fi.Mode().Perm())
		if err := aw.add(ManifestEntry{Name: name, Size: int64(buf.Len()), Mode: mode}, buf, fi.ModTime()); err != nil {
			return err
		}
		o.Progress.Add(1, int64(buf.Len()))
		return nil
	})
}

package ops

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/agentops/agentops/app/credentials"
	"github.com/agentops/agentops/app/keys"
	"github.com/agentops/agentops/keyring"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/blob"
)

// RestoreOptions configure Restore.
type RestoreOptions struct {
	Archive string
	// DataDir is the new instance's data dir: it must be empty or absent.
	DataDir string
	// DatabaseURL is where the database goes: an SQLite file (normally
	// agentops.db in DataDir) that must not exist. A postgres:// URL is
	// refused: restore into SQLite, then use migrate-data.
	DatabaseURL string
	// KeyFile is where the instance key goes; it must not exist.
	KeyFile string
	// OpenBlob opens the new instance's object storage (which must be
	// empty), once the data dir is known to be empty: the file driver
	// creates its directory in it. Nil: objects are not restored.
	OpenBlob func(ctx context.Context) (blob.Storage, error)
	blob     blob.Storage
	// WorkspacesDir is where workspaces go (the local sandboxes' root).
	WorkspacesDir string
	Progress      *Progress
}

// RestoreResult is what Restore wrote.
type RestoreResult struct {
	Manifest *Manifest
	Objects  int
	// Hibernated counts the sessions that are not terminal, when the
	// archive has no workspaces: they are hibernated (their runners are
	// gone) and wake in a new, empty workspace.
	Hibernated  int
	Credentials int
	Warnings    []string
	Elapsed     time.Duration
}

// ErrTargetNotEmptyRestore: the data dir, database, key file or object
// store of the target already holds something.
var ErrTargetNotEmptyRestore = errors.New("the restore target is not empty")

// Restore checks an archive entirely (every checksum, the schema version)
// and the target (empty), and only then writes the database, the key, the
// objects and the workspaces, and checks the restored database (integrity,
// foreign keys, row counts, and that the key opens its credentials).
func Restore(ctx context.Context, o RestoreOptions) (*RestoreResult, error) {
	start := time.Now()
	m, err := scanArchive(o.Archive, o.Progress)
	if err != nil {
		return nil, err
	}
	res := &RestoreResult{Manifest: m}
	if m.Database {
		known, err := store.KnownVersions(store.SQLite)
		if err != nil {
			return nil, err
		}
		if _, err := store.CheckVersions(m.SchemaVersions, known); err != nil {
			return nil, fmt.Errorf("the backup was written by agentops %s: %w", m.Version, err)
		}
		if store.IsPostgres(o.DatabaseURL) {
			return nil, errors.New("restore writes an SQLite database: restore into a data dir without --database-url, then move it to Postgres with `agentops migrate-data`")
		}
	}
	if err := checkEmptyTarget(ctx, &o, m); err != nil {
		return nil, err
	}

	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	tmpDB := ""
	if m.Database {
		tmpDB = o.DatabaseURL + ".restoring"
		defer os.Remove(tmpDB)
	}
	if err := extract(ctx, o, m, tmpDB, res); err != nil {
		return nil, err
	}
	if m.Database {
		if err := finishDatabase(ctx, o, m, tmpDB, res); err != nil {
			return nil, err
		}
	} else {
		res.Warnings = append(res.Warnings, fmt.Sprintf("this backup has no database (the instance ran on %s): restore it with pg_restore", m.Dialect))
	}
	if !m.Key {
		res.Warnings = append(res.Warnings, "this backup has no instance key: put the original key file at "+o.KeyFile+" (or set AGENTOPS_INSTANCE_KEY) before serving, or the stored credentials cannot be opened")
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

func checkEmptyTarget(ctx context.Context, o *RestoreOptions, m *Manifest) error {
	entries, err := os.ReadDir(o.DataDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("data dir: %w", err)
	case len(entries) > 0:
		return fmt.Errorf("%w: the data dir %s holds %s; restore into a new, empty data dir", ErrTargetNotEmptyRestore, o.DataDir, entries[0].Name())
	}
	for _, p := range []string{o.DatabaseURL, o.KeyFile} {
		if p == "" || store.IsPostgres(p) {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%w: %s exists", ErrTargetNotEmptyRestore, p)
		}
	}
	if o.OpenBlob != nil && m.Objects > 0 {
		b, err := o.OpenBlob(ctx)
		if err != nil {
			return fmt.Errorf("object storage: %w", err)
		}
		o.blob = b
		page, err := o.blob.List(ctx, "", "", 1)
		if err != nil {
			return fmt.Errorf("object storage: %w", err)
		}
		if len(page.Items) > 0 {
			return fmt.Errorf("%w: the object storage holds objects (%s, …); restore into an empty bucket", ErrTargetNotEmptyRestore, page.Items[0].Key)
		}
	}
	return nil
}

// extract writes every entry, checking each checksum again as it goes
// (the archive could change between the check and the write).
func extract(ctx context.Context, o RestoreOptions, m *Manifest, tmpDB string, res *RestoreResult) error {
	byName := map[string]ManifestEntry{}
	for _, e := range m.Entries {
		byName[e.Name] = e
	}
	tr, c, err := openArchive(o.Archive)
	if err != nil {
		return err
	}
	defer c.Close()
	o.Progress.Start("restoring", "entries", int64(len(m.Entries)))
	defer o.Progress.End()
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return badArchive("changed since it was checked: %v", err)
		}
		if hdr.Name == manifestEntry {
			continue
		}
		e, ok := byName[hdr.Name]
		if !ok {
			return badArchive("entry %s changed since it was checked", hdr.Name)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := restoreEntry(ctx, o, e, tr, tmpDB, res); err != nil {
			return err
		}
		o.Progress.Add(1, e.Size)
	}
}

// checked reads r and fails at its end if it was not the entry e.
type checked struct {
	r io.Reader
	h hash.Hash
	e ManifestEntry
}

func newChecked(r io.Reader, e ManifestEntry) *checked {
	h := sha256.New()
	return &checked{r: io.TeeReader(r, h), h: h, e: e}
}

func (c *checked) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF && hex.EncodeToString(c.h.Sum(nil)) != c.e.SHA256 {
		return n, badArchive("entry %s changed since it was checked", c.e.Name)
	}
	return n, err
}

func restoreEntry(ctx context.Context, o RestoreOptions, e ManifestEntry, tr *tar.Reader, tmpDB string, res *RestoreResult) error {
	body := newChecked(tr, e)
	switch {
	case e.Name == databaseEntry:
		return writeFile(tmpDB, body, 0o600)
	case e.Name == keyEntry:
		return writeFile(o.KeyFile, body, 0o600)
	case strings.HasPrefix(e.Name, blobPrefix):
		if o.blob == nil {
			return nil
		}
		key := strings.TrimPrefix(e.Name, blobPrefix)
		if _, err := o.blob.Put(ctx, key, body, blob.PutOptions{ContentType: e.ContentType, Size: e.Size, Metadata: e.Metadata}); err != nil {
			return fmt.Errorf("restore object %s: %w", key, err)
		}
		res.Objects++
		return nil
	case strings.HasPrefix(e.Name, workspacePrefix):
		rel := filepath.FromSlash(strings.TrimPrefix(e.Name, workspacePrefix))
		mode := fs.FileMode(e.Mode).Perm()
		if mode == 0 {
			mode = 0o600
		}
		return writeFile(filepath.Join(o.WorkspacesDir, rel), body, mode)
	}
	return badArchive("entry %s is of no known kind", e.Name)
}

func writeFile(p string, r io.Reader, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("restore %s: %w", p, err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		os.Remove(p)
		return fmt.Errorf("restore %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// finishDatabase checks the restored snapshot, brings it to this binary's
// schema, hibernates sessions whose workspaces were left out, and moves it
// into place.
func finishDatabase(ctx context.Context, o RestoreOptions, m *Manifest, tmpDB string, res *RestoreResult) error {
	s, err := store.Open(ctx, tmpDB, store.Options{MaxConns: 2})
	if err != nil {
		return fmt.Errorf("open restored database: %w", err)
	}
	defer s.Close()
	if err := s.CheckIntegrity(ctx); err != nil {
		return fmt.Errorf("restored database: %w", err)
	}
	for _, t := range m.Tables {
		n, err := s.Count(ctx, t.Name)
		if err != nil {
			return err
		}
		if n != t.Rows {
			return fmt.Errorf("restored database: %s has %d rows, the manifest says %d", t.Name, n, t.Rows)
		}
	}
	if _, err := s.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate restored database: %w", err)
	}
	if !m.Workspaces {
		ids, err := s.Sessions().HibernateLive(ctx, store.Now())
		if err != nil {
			return err
		}
		// Waking a hibernated session restores its runner in its
		// workspace: give each an empty one.
		for _, id := range ids {
			if err := os.MkdirAll(filepath.Join(o.WorkspacesDir, id), 0o700); err != nil {
				return fmt.Errorf("create workspace: %w", err)
			}
		}
		res.Hibernated = len(ids)
	}
	if m.Key {
		kr, err := keyring.Load(o.KeyFile)
		if err != nil {
			return fmt.Errorf("restored key: %w", err)
		}
		if err := keys.Verify(ctx, s, kr); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("the restored key does not open the restored database: %w", err)
		}
		if res.Credentials, err = credentials.VerifyAll(ctx, s, kr); err != nil {
			return err
		}
	}
	if err := s.Close(); err != nil {
		return err
	}
	// Move the database into place, with its WAL if closing left one.
	for _, suffix := range []string{"-wal", "-shm", ""} {
		if _, err := os.Stat(tmpDB + suffix); err != nil {
			continue
		}
		if err := os.Rename(tmpDB+suffix, o.DatabaseURL+suffix); err != nil {
			return fmt.Errorf("place restored database: %w", err)
		}
	}
	return nil
}

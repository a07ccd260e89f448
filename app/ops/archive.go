package ops

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"
)

// A backup archive is a tar file (gzip-compressed when its name ends in
// .gz or .tgz) holding, in this order: database/agentops.db (a consistent
// SQLite snapshot), instance.key, blobs/<key> (one entry per object),
// workspaces/<session>/... (with --include-workspaces), and last
// manifest.json: what the archive holds, with every entry's size and
// SHA-256, so that a restore can check all of it before writing anything.

// ManifestFormat names this archive layout.
const ManifestFormat = "agentops-backup/1"

// Entry names in the archive.
const (
	manifestEntry   = "manifest.json"
	databaseEntry   = "database/agentops.db"
	keyEntry        = "instance.key"
	blobPrefix      = "blobs/"
	workspacePrefix = "workspaces/"
)

// Manifest describes a backup archive.
type Manifest struct {
	Format    string    `json:"format"`
	CreatedAt time.Time `json:"created_at"`
	Version   string    `json:"agentops_version"`
	// Dialect is the database the instance ran on; Database says whether
	// the archive holds it (it does for SQLite; Postgres is pg_dump's).
	Dialect        string          `json:"dialect"`
	Database       bool            `json:"database"`
	SchemaVersions []string        `json:"schema_versions,omitempty"`
	Tables         []ManifestTable `json:"tables,omitempty"`
	Key            bool            `json:"instance_key"`
	Workspaces     bool            `json:"workspaces"`
	Objects        int             `json:"objects"`
	Entries        []ManifestEntry `json:"entries"`
}

// ManifestTable is a registered table's row count in the snapshot.
type ManifestTable struct {
	Name string `json:"name"`
	Rows int64  `json:"rows"`
}

// ManifestEntry is one file of the archive.
type ManifestEntry struct {
	Name        string            `json:"name"`
	Size        int64             `json:"size"`
	SHA256      string            `json:"sha256"`
	Mode        int64             `json:"mode,omitempty"`
	ContentType string            `json:"content_type,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

func compressed(name string) bool {
	return strings.HasSuffix(name, ".gz") || strings.HasSuffix(name, ".tgz")
}

// archiveWriter writes entries and records them for the manifest.
type archiveWriter struct {
	f       *os.File
	bw      *bufio.Writer
	gz      *gzip.Writer
	tw      *tar.Writer
	entries []ManifestEntry
	bytes   int64
}

func createArchive(f *os.File, gz bool) *archiveWriter {
	aw := &archiveWriter{f: f, bw: bufio.NewWriterSize(f, 1<<20)}
	var w io.Writer = aw.bw
	if gz {
		aw.gz, _ = gzip.NewWriterLevel(aw.bw, gzip.BestSpeed)
		w = aw.gz
	}
	aw.tw = tar.NewWriter(w)
	return aw
}

// add writes one entry of exactly size bytes read from r.
func (aw *archiveWriter) add(e ManifestEntry, r io.Reader, mod time.Time) error {
	if e.Mode == 0 {
		e.Mode = 0o600
	}
	hdr := &tar.Header{Name: e.Name, Size: e.Size, Mode: e.Mode, ModTime: mod.UTC(), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := aw.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("archive %s: %w", e.Name, err)
	}
	h := sha256.New()
	n, err := io.Copy(aw.tw, io.TeeReader(io.LimitReader(r, e.Size), h))
	if err != nil {
		return fmt.Errorf("archive %s: %w", e.Name, err)
	}
	if n != e.Size {
		return fmt.Errorf("archive %s: read %d bytes of %d (it changed while being read)", e.Name, n, e.Size)
	}
	e.SHA256 = hex.EncodeToString(h.Sum(nil))
	aw.entries = append(aw.entries, e)
	aw.bytes += n
	return nil
}

// finish writes the manifest and flushes everything to disk.
func (aw *archiveWriter) finish(m *Manifest) error {
	m.Entries = aw.entries
	body, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: manifestEntry, Size: int64(len(body)), Mode: 0o600, ModTime: m.CreatedAt, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := aw.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("archive manifest: %w", err)
	}
	if _, err := aw.tw.Write(body); err != nil {
		return fmt.Errorf("archive manifest: %w", err)
	}
	if err := aw.tw.Close(); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	if aw.gz != nil {
		if err := aw.gz.Close(); err != nil {
			return fmt.Errorf("archive: %w", err)
		}
	}
	if err := aw.bw.Flush(); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	return aw.f.Sync()
}

// ErrBadArchive: the archive is truncated, tampered with, or not a
// backup; nothing was written.
var ErrBadArchive = errors.New("bad backup archive")

func badArchive(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadArchive, fmt.Sprintf(format, args...))
}

// openArchive opens a tar archive, gzip-compressed or not (by its first
// bytes, whatever its name).
func openArchive(file string) (*tar.Reader, io.Closer, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(f, 1<<20)
	magic, _ := br.Peek(2)
	var r io.Reader = br
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, nil, badArchive("%s: gzip: %v", file, err)
		}
		r = gz
	}
	return tar.NewReader(r), f, nil
}

// validEntryName refuses names that could escape the directory they are
// restored into.
func validEntryName(name string) bool {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || strings.ContainsRune(name, 0) {
		return false
	}
	if path.Clean(name) != name {
		return false
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == ".." || seg == "." || seg == "" {
			return false
		}
	}
	return true
}

// scanArchive reads the whole archive once, checks every entry against
// the manifest and returns the manifest. Nothing is written.
func scanArchive(file string, progress *Progress) (*Manifest, error) {
	tr, c, err := openArchive(file)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	type seen struct {
		size int64
		sum  string
	}
	got := map[string]seen{}
	var order []string
	var manifest []byte
	last := "(the start)"
	progress.Start("checking archive", "entries", -1)
	defer progress.End()
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, badArchive("truncated or corrupt after entry %s: %v", last, err)
		}
		name := hdr.Name
		if hdr.Typeflag != tar.TypeReg {
			return nil, badArchive("entry %s is not a regular file", name)
		}
		if !validEntryName(name) {
			return nil, badArchive("entry name %q is not allowed", name)
		}
		if _, dup := got[name]; dup || (name == manifestEntry && manifest != nil) {
			return nil, badArchive("entry %s appears twice", name)
		}
		if name == manifestEntry {
			if hdr.Size > 256<<20 {
				return nil, badArchive("manifest is %d bytes", hdr.Size)
			}
			if manifest, err = io.ReadAll(tr); err != nil {
				return nil, badArchive("entry %s is truncated: %v", name, err)
			}
			last = name
			continue
		}
		h := sha256.New()
		n, err := io.Copy(h, tr)
		if err != nil {
			return nil, badArchive("entry %s is truncated: %v", name, err)
		}
		got[name] = seen{n, hex.EncodeToString(h.Sum(nil))}
		order = append(order, name)
		last = name
		progress.Add(1, n)
	}
	if manifest == nil {
		return nil, badArchive("no %s: not an agentops backup, or truncated (the manifest is the last entry; the last entry read was %s)", manifestEntry, last)
	}
	var m Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, badArchive("%s: %v", manifestEntry, err)
	}
	if m.Format != ManifestFormat {
		return nil, badArchive("format %q, this agentops reads %q", m.Format, ManifestFormat)
	}
	listed := map[string]bool{}
	for _, e := range m.Entries {
		listed[e.Name] = true
		g, ok := got[e.Name]
		switch {
		case !ok:
			return nil, badArchive("entry %s is in the manifest but not in the archive", e.Name)
		case g.size != e.Size:
			return nil, badArchive("entry %s has %d bytes, the manifest says %d", e.Name, g.size, e.Size)
		case g.sum != e.SHA256:
			return nil, badArchive("entry %s does not match its checksum (sha256 %s, the manifest says %s)", e.Name, g.sum, e.SHA256)
		}
	}
	for _, name := range order {
		if !listed[name] {
			return nil, badArchive("entry %s is not in the manifest", name)
		}
	}
	return &m, nil
}

package importer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/agentops/agentops/store/blob"
)

// r2Object is an R2 object to copy: its file and its agentops key.
type r2Object struct {
	file string
	key  string
	size int64
}

// planR2 walks the copy of the R2 bucket. Session artifacts
// (backups/USER/sessions/SESSION/artifacts/NAME, the layout agentops
// shares) are imported under the session's agentops owner; anything else
// (avatars) is reported.
func (im *importer) planR2(ctx context.Context) error {
	if im.opts.R2Dir == "" {
		return nil
	}
	if im.deps.Blob == nil {
		return refuse("--r2-dir needs object storage, and none is configured")
	}
	if fi, err := os.Stat(im.opts.R2Dir); err != nil || !fi.IsDir() {
		return refuse("--r2-dir %s is not a folder", im.opts.R2Dir)
	}
	tr := im.rep.table("r2 objects")
	return filepath.WalkDir(im.opts.R2Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(im.opts.R2Dir, path)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		parts := strings.SplitN(key, "/", 6)
		if len(parts) != 6 || parts[0] != "backups" || parts[2] != "sessions" || parts[4] != "artifacts" {
			tr.skip("not a session artifact (avatars and others)")
			return nil
		}
		owner := im.p.sessOK[parts[3]]
		if owner == "" || im.p.userMap[parts[1]] != owner {
			tr.skip("session not imported")
			return nil
		}
		target := "backups/" + owner + "/sessions/" + im.p.sessID[parts[3]] + "/artifacts/" + parts[5]
		if err := blob.ValidateKey(target); err != nil {
			tr.skip("name agentops does not accept")
			im.rep.problem("R2 object %s: %v", key, err)
			return nil
		}
		if _, err := im.deps.Blob.Stat(ctx, target); err == nil {
			tr.skip("already imported")
			return nil
		} else if !errors.Is(err, blob.ErrNotFound) {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		im.p.objects = append(im.p.objects, r2Object{file: path, key: target, size: info.Size()})
		tr.ToImport++
		return nil
	})
}

func (im *importer) writeR2(ctx context.Context) error {
	for i, o := range im.p.objects {
		f, err := os.Open(o.file)
		if err != nil {
			return err
		}
		_, err = im.deps.Blob.Put(ctx, o.key, f, blob.PutOptions{Size: o.size, ContentType: "application/octet-stream"})
		f.Close()
		if err != nil {
			return fmt.Errorf("import R2 object %s (those before are written, run the import again to continue): %w", o.key, err)
		}
		if im.opts.Progress != nil {
			fmt.Fprintf(im.opts.Progress, "\r%-28s %d/%d", "r2 objects", i+1, len(im.p.objects))
			if i+1 == len(im.p.objects) {
				fmt.Fprintln(im.opts.Progress)
			}
		}
	}
	return nil
}

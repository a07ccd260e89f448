package gitws

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// File statuses.
const (
	Added    = "added"
	Modified = "modified"
	Deleted  = "deleted"
	Renamed  = "renamed"
)

// FileChange is one file that differs from the base commit, committed or
// not (untracked files included, ignored files not).
type FileChange struct {
	Path      string `json:"path"`
	OldPath   string `json:"oldPath,omitempty"`
	Status    string `json:"status"`
	Additions int    `json:"additions"`
	Deletions int    `json:"deletions"`
	Binary    bool   `json:"binary,omitempty"`
}

// FileDiff is one file's unified diff against the base commit.
type FileDiff struct {
	Path      string `json:"path"`
	OldPath   string `json:"oldPath,omitempty"`
	Status    string `json:"status"`
	Binary    bool   `json:"binary,omitempty"`
	Diff      string `json:"diff,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
}

// DiffResult is what Diff returns; Truncated is set when the limit cut
// any file's diff.
type DiffResult struct {
	Files     []FileDiff `json:"files"`
	Truncated bool       `json:"truncated"`
}

// DefaultDiffLimit bounds the diff text Diff returns in all.
const DefaultDiffLimit = 1 << 20

// snapshot runs fn with an index that holds the whole working tree (as
// `git add --all` would stage it) without touching the workspace's own
// index: a copy of it (so git's stat cache still spares re-reading
// unchanged files) in the git directory.
func snapshot(ctx context.Context, dir string, fn func(env []string) error) error {
	gd, err := gitDir(ctx, dir)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(gd, "agentops-index-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name)
	if src, err := os.Open(filepath.Join(gd, "index")); err == nil {
		_, err = io.Copy(tmp, src)
		src.Close()
		if err != nil {
			tmp.Close()
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	env := []string{"GIT_INDEX_FILE=" + name}
	if _, err := run(ctx, cmd{dir: dir, env: env, args: []string{"add", "--all", "--", "."}}); err != nil {
		return err
	}
	return fn(env)
}

var diffOpts = []string{"--cached", "-M", "--no-ext-diff", "--no-textconv", "--no-color"}

// nameStatus lists the changed paths in git's diff order.
func nameStatus(ctx context.Context, dir string, env []string, base string, paths []string) ([]FileChange, error) {
	args := append(append([]string{"diff"}, diffOpts...), "--name-status", "-z", base, "--")
	out, err := run(ctx, cmd{dir: dir, env: env, args: append(args, paths...)})
	if err != nil {
		return nil, err
	}
	var files []FileChange
	recs := strings.Split(out, "\x00")
	for i := 0; i+1 < len(recs); i++ {
		code := recs[i]
		if code == "" {
			continue
		}
		f := FileChange{}
		switch code[0] {
		case 'A':
			f.Status = Added
		case 'D':
			f.Status = Deleted
		case 'R', 'C':
			f.Status = Renamed
			f.OldPath = recs[i+1]
			i++
			if i+1 >= len(recs) {
				return nil, errors.New("gitws: short rename record from git diff")
			}
		default: // M, T (type change)
			f.Status = Modified
		}
		if code[0] == 'C' {
			f.Status = Added
			f.OldPath = ""
		}
		f.Path = recs[i+1]
		i++
		files = append(files, f)
	}
	return files, nil
}

// numstat fills in additions and deletions (binary files have "-").
func numstat(ctx context.Context, dir string, env []string, base string, files []FileChange) error {
	args := append(append([]string{"diff"}, diffOpts...), "--numstat", "-z", base, "--")
	out, err := run(ctx, cmd{dir: dir, env: env, args: args})
	if err != nil {
		return err
	}
	byPath := make(map[string]*FileChange, len(files))
	for i := range files {
		byPath[files[i].Path] = &files[i]
	}
	recs := strings.Split(out, "\x00")
	for i := 0; i < len(recs); i++ {
		r := recs[i]
		if r == "" {
			continue
		}
		parts := strings.SplitN(r, "\t", 3)
		if len(parts) != 3 {
			continue
		}
		path := parts[2]
		if path == "" { // a rename: old and new paths follow
			if i+2 >= len(recs) {
				break
			}
			path = recs[i+2]
			i += 2
		}
		f := byPath[path]
		if f == nil {
			continue
		}
		if parts[0] == "-" {
			f.Binary = true
			continue
		}
		f.Additions, _ = strconv.Atoi(parts[0])
		f.Deletions, _ = strconv.Atoi(parts[1])
	}
	return nil
}

// ChangedFiles lists what differs between the base commit and the working
// tree, with renames detected as git does.
func ChangedFiles(ctx context.Context, dir string) ([]FileChange, error) {
	base, _, err := readBase(ctx, dir)
	if err != nil {
		return nil, err
	}
	var files []FileChange
	err = snapshot(ctx, dir, func(env []string) error {
		if files, err = nameStatus(ctx, dir, env, base, nil); err != nil {
			return err
		}
		return numstat(ctx, dir, env, base, files)
	})
	if files == nil {
		files = []FileChange{}
	}
	return files, err
}

// Diff returns the unified diff of every changed file against the base
// commit, or only of path (its old or new name) when path is not empty.
// Binary files are named, not shown. The diff text is at most limit bytes
// in all (DefaultDiffLimit when limit <= 0): the file where the limit
// falls is cut, the files after it come without text, each marked
// truncated.
func Diff(ctx context.Context, dir, path string, limit int) (DiffResult, error) {
	if limit <= 0 {
		limit = DefaultDiffLimit
	}
	res := DiffResult{Files: []FileDiff{}}
	base, _, err := readBase(ctx, dir)
	if err != nil {
		return res, err
	}
	err = snapshot(ctx, dir, func(env []string) error {
		all, err := nameStatus(ctx, dir, env, base, nil)
		if err != nil {
			return err
		}
		var files []FileChange
		for _, f := range all {
			if path == "" || f.Path == path || f.OldPath == path {
				files = append(files, f)
			}
		}
		if len(files) == 0 {
			return nil
		}
		if err := numstat(ctx, dir, env, base, files); err != nil {
			return err
		}
		var paths []string
		for _, f := range files {
			res.Files = append(res.Files, FileDiff{Path: f.Path, OldPath: f.OldPath, Status: f.Status, Binary: f.Binary})
			if f.OldPath != "" {
				paths = append(paths, f.OldPath)
			}
			paths = append(paths, f.Path)
		}
		if path == "" {
			paths = nil
		}
		return patches(ctx, dir, env, base, paths, limit, &res)
	})
	return res, err
}

// patches streams git's patch and hands each "diff --git" section to the
// next file in res (the same diff, so the same order), stopping git once
// the limit is reached.
func patches(ctx context.Context, dir string, env []string, base string, paths []string, limit int, res *DiffResult) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	args := append(append([]string{"diff"}, diffOpts...), "--patch", base, "--")
	done := make(chan error, 1)
	go func() {
		_, err := run(ctx, cmd{dir: dir, env: env, args: append(args, paths...), stdout: pw})
		pw.CloseWithError(err)
		done <- err
	}()
	br := bufio.NewReaderSize(pr, 64<<10)
	idx := -1
	used := 0
	var cur strings.Builder
	flush := func() {
		if idx >= 0 && idx < len(res.Files) && !res.Files[idx].Binary {
			res.Files[idx].Diff = cur.String()
		}
		cur.Reset()
	}
	full := false
	var readErr error
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			if strings.HasPrefix(line, "diff --git ") {
				flush()
				idx++
			}
			if idx >= 0 && idx < len(res.Files) && !res.Files[idx].Binary {
				if used+len(line) > limit {
					full = true
				} else {
					cur.WriteString(line)
					used += len(line)
				}
			}
		}
		if full || err != nil {
			if err != nil && err != io.EOF {
				readErr = err
			}
			break
		}
	}
	flush()
	if full {
		res.Truncated = true
		for i := idx; i < len(res.Files); i++ {
			if i >= 0 && !res.Files[i].Binary {
				res.Files[i].Truncated = true
			}
		}
		cancel()
		pr.CloseWithError(io.ErrClosedPipe)
		<-done
		return nil
	}
	if err := <-done; err != nil {
		return err
	}
	return readErr
}

package memory

import (
	"strings"
	"unicode/utf8"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/search"
)

// Path limits (upstream's): longer or deeper paths are a 400.
const (
	MaxPathLen   = 256
	MaxPathDepth = 4
	// maxRawPath bounds what is normalized at all.
	maxRawPath = 4096
)

// PinnedPrefix holds the files that are never evicted.
const PinnedPrefix = "preferences/"

// NormalizePath turns what a user or agent wrote into a memory path, as
// upstream does: no leading '/', lower case, blanks and '_' become '-',
// only [a-z0-9-./] is kept, and '.', '..' and empty segments are
// dropped. Unlike upstream, accented letters keep their base letter
// (Ünïcode → unicode) instead of vanishing.
func NormalizePath(raw string) string {
	if !utf8.ValidString(raw) {
		raw = strings.ToValidUTF8(raw, "")
	}
	s := search.Fold(raw)
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '_':
			b.WriteByte('-')
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.', r == '/':
			b.WriteRune(r)
		}
	}
	segs := strings.Split(b.String(), "/")
	kept := segs[:0]
	for _, seg := range segs {
		if seg != "" && seg != "." && seg != ".." {
			kept = append(kept, seg)
		}
	}
	return strings.Join(kept, "/")
}

// isDir reports whether a raw path names a directory: empty, or ending
// in '/'.
func isDir(raw string) bool { return strings.TrimSpace(raw) == "" || strings.HasSuffix(raw, "/") }

// filePath normalizes and validates the path of one file.
func filePath(raw string) (string, error) {
	if len(raw) > maxRawPath {
		return "", apperr.Invalid("path", "path must be at most %d characters", MaxPathLen)
	}
	p := NormalizePath(raw)
	switch {
	case p == "":
		return "", apperr.Invalid("path", "path is required: give a file path such as notes/todo.md")
	case len(p) > MaxPathLen:
		return "", apperr.Invalid("path", "path must be at most %d characters (after normalization it has %d)", MaxPathLen, len(p))
	case strings.Count(p, "/")+1 > MaxPathDepth:
		return "", apperr.Invalid("path", "path may be at most %d levels deep", MaxPathDepth)
	}
	return p, nil
}

// dirPrefix normalizes a directory path into a LIKE prefix: "" (the
// whole memory) or "a/b/".
func dirPrefix(raw string) (string, error) {
	if len(raw) > maxRawPath {
		return "", apperr.Invalid("path", "path must be at most %d characters", MaxPathLen)
	}
	p := NormalizePath(raw)
	if p == "" {
		return "", nil
	}
	if len(p) > MaxPathLen {
		return "", apperr.Invalid("path", "path must be at most %d characters", MaxPathLen)
	}
	return p + "/", nil
}

// titleOf is the first "# " heading of content, else the file name
// without .md.
func titleOf(content, path string) string {
	for _, line := range strings.Split(content, "\n") {
		line = strings.TrimRight(line, "\r")
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			if t := strings.TrimSpace(rest); t != "" {
				return truncate(t, 200)
			}
		}
	}
	name := path[strings.LastIndexByte(path, '/')+1:]
	return strings.TrimSuffix(name, ".md")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// CheckPath normalizes and validates a file path as Write does (for
// imports of other deployments' memory).
func CheckPath(raw string) (string, error) { return filePath(raw) }

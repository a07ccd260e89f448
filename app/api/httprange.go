package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agentops/agentops/store/blob"
)

// Conditional and ranged downloads (RFC 9110 §13 and §14), for one
// representation with a strong ETag and a modification time.

// notModified reports whether a GET can be answered 304: If-None-Match
// (weak comparison) decides when present, else If-Modified-Since.
func notModified(r *http.Request, etag string, mod time.Time) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		return etagListMatches(inm, etag, true)
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" {
		t, err := http.ParseTime(ims)
		return err == nil && !mod.Truncate(time.Second).After(t)
	}
	return false
}

// etagListMatches reports whether a header list of entity tags (or "*")
// holds the quoted etag; weak comparison ignores W/ prefixes.
func etagListMatches(list, etag string, weak bool) bool {
	if strings.TrimSpace(list) == "*" {
		return true
	}
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if weak {
			t = strings.TrimPrefix(t, "W/")
		}
		if t == etag {
			return true
		}
	}
	return false
}

// rangeOutcome is what a Range header asks of a representation.
type rangeOutcome int

const (
	rangeWhole         rangeOutcome = iota // no (usable) Range: 200 with it all
	rangePart                              // one satisfiable range: 206
	rangeUnsatisfiable                     // 416
)

// parseRange reads the Range header of a GET for a representation of size
// bytes. It serves one range: "bytes=a-b", "bytes=a-" or "bytes=-n".
// Following RFC 9110 §14.2, it ignores a Range of another unit, one with
// several ranges (answered whole rather than as multipart/byteranges), any
// Range on an empty representation, and a Range whose If-Range does not
// match; it rejects a malformed bytes range or one that starts past the
// end (416).
func parseRange(r *http.Request, size int64, etag string, mod time.Time) (blob.Range, rangeOutcome) {
	h := r.Header.Get("Range")
	if h == "" || size == 0 {
		return blob.Range{}, rangeWhole
	}
	if ir := r.Header.Get("If-Range"); ir != "" {
		if strings.HasPrefix(ir, `"`) || strings.HasPrefix(ir, "W/") {
			if ir != etag { // strong comparison: a weak tag never matches
				return blob.Range{}, rangeWhole
			}
		} else if t, err := http.ParseTime(ir); err != nil || !mod.Truncate(time.Second).Equal(t) {
			return blob.Range{}, rangeWhole
		}
	}
	unit, spec, ok := strings.Cut(h, "=")
	if !ok {
		return blob.Range{}, rangeUnsatisfiable
	}
	if !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return blob.Range{}, rangeWhole
	}
	if strings.Contains(spec, ",") {
		return blob.Range{}, rangeWhole
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return blob.Range{}, rangeUnsatisfiable
	}
	if first == "" {
		n, ok := digits(last)
		if !ok || n == 0 {
			return blob.Range{}, rangeUnsatisfiable
		}
		n = min(n, size)
		return blob.Range{Offset: size - n, Length: n}, rangePart
	}
	a, ok := digits(first)
	if !ok || a >= size {
		return blob.Range{}, rangeUnsatisfiable
	}
	end := size - 1
	if last != "" {
		b, ok := digits(last)
		if !ok || b < a {
			return blob.Range{}, rangeUnsatisfiable
		}
		end = min(b, size-1)
	}
	return blob.Range{Offset: a, Length: end - a + 1}, rangePart
}

// digits parses a non-negative decimal with nothing else around it.
func digits(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

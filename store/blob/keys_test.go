package blob_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/agentops/agentops/store/blob"
)

func TestValidateKey(t *testing.T) {
	good := []string{"a", "a/b", "backups/u/sessions/s/artifacts/1700000000000_notes.md", ".env", "a/.hidden/x",
		"日本語/ファイル.txt", "with space", "a..b", "...", strings.Repeat("x", blob.MaxSegmentBytes)}
	for _, k := range good {
		if err := blob.ValidateKey(k); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", k, err)
		}
	}
	bad := []string{"", "/abs", "/", "a/", "a//b", "..", "../x", "a/../b", "a/..", ".", "./a", "a/./b",
		"a\\b", "..\\x", "a\x00b", "a\nb", "a\x7fb", "a\u0085b", "\xff\xfe", ".agentops-meta.x", "a/.agentops-tmp",
		strings.Repeat("x", blob.MaxSegmentBytes+1), strings.Repeat("a/", 600) + "a"}
	for _, k := range bad {
		err := blob.ValidateKey(k)
		if !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, want ErrInvalidKey", k, err)
		}
	}
}

func TestValidatePrefix(t *testing.T) {
	for _, p := range []string{"", "a", "a/", "a/b", "a/.", "a/..", "a/.agentops", "x/17"} {
		if err := blob.ValidatePrefix(p); err != nil {
			t.Errorf("ValidatePrefix(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range []string{"/", "/a", "../", "a/../b", "a//", "a\\", "a\x00", ".agentops-tmp/x"} {
		if err := blob.ValidatePrefix(p); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("ValidatePrefix(%q) = %v, want ErrInvalidKey", p, err)
		}
	}
}

func TestValidateMetadata(t *testing.T) {
	if err := blob.ValidateMetadata(map[string]string{"original-path": "/src/ü.go", "x1": ""}); err != nil {
		t.Fatal(err)
	}
	for _, md := range []map[string]string{
		{"Upper": "x"}, {"": "x"}, {"-x": "x"}, {"a_b": "x"}, {"a": "line\nbreak"}, {"a": "\xff"},
		{"a": strings.Repeat("x", blob.MaxMetadataBytes)},
	} {
		if err := blob.ValidateMetadata(md); err == nil {
			t.Errorf("ValidateMetadata(%v) = nil, want an error", md)
		}
	}
}

func TestRangeResolve(t *testing.T) {
	cases := []struct {
		r    *blob.Range
		size int64
		want blob.Range
		err  bool
	}{
		{nil, 10, blob.Range{Offset: 0, Length: 10}, false},
		{nil, 0, blob.Range{Offset: 0, Length: 0}, false},
		{&blob.Range{Offset: 0, Length: 1}, 10, blob.Range{Offset: 0, Length: 1}, false},
		{&blob.Range{Offset: 5, Length: 100}, 10, blob.Range{Offset: 5, Length: 5}, false},
		{&blob.Range{Offset: 9, Length: 1}, 10, blob.Range{Offset: 9, Length: 1}, false},
		{&blob.Range{Offset: 10, Length: 1}, 10, blob.Range{}, true},
		{&blob.Range{Offset: 0, Length: 1}, 0, blob.Range{}, true},
		{&blob.Range{Offset: -1, Length: 1}, 10, blob.Range{}, true},
		{&blob.Range{Offset: 0, Length: 0}, 10, blob.Range{}, true},
	}
	for _, c := range cases {
		got, err := c.r.Resolve(c.size)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("%v.Resolve(%d) = %v, %v; want %v, err %v", c.r, c.size, got, err, c.want, c.err)
		}
		if err != nil && !errors.Is(err, blob.ErrInvalidRange) {
			t.Errorf("error %v is not ErrInvalidRange", err)
		}
	}
}

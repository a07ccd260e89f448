package memory

import "testing"

func TestNormalizePath(t *testing.T) {
	for in, want := range map[string]string{
		"/Notes/Smoke Test.md":     "notes/smoke-test.md",
		"a//b/./c/../d.md":         "a/b/c/d.md",
		"../../etc/passwd":         "etc/passwd",
		"My_Notes/Ünïcode File.md": "my-notes/unicode-file.md",
		"%%%/$$$":                  "",
		"preferences/Style.MD":     "preferences/style.md",
		"  ":                       "--",
		"日本/x.md":                  "x.md",
	} {
		if got := NormalizePath(in); got != want {
			t.Errorf("NormalizePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTitleOf(t *testing.T) {
	for _, tc := range []struct{ content, path, want string }{
		{"intro\n# Real Title\n## sub", "a/b.md", "Real Title"},
		{"## Only sub", "notes/todo.md", "todo"},
		{"#NoSpace", "x", "x"},
	} {
		if got := titleOf(tc.content, tc.path); got != tc.want {
			t.Errorf("titleOf(%q, %q) = %q, want %q", tc.content, tc.path, got, tc.want)
		}
	}
}

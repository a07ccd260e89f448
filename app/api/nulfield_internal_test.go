package api

import "testing"

func TestNulJSONField(t *testing.T) {
	for in, want := range map[string]string{
		`{"content":"a\u0000"}`:                                            "content",
		`{"path":"x","content":"a\u0000"}`:                                 "content",
		`{"a":1,"b":[true,"x"],"files":[{"c":"ok"},{"content":"\u0000"}]}`: "files[1].content",
		`["ok","no\u0000"]`:                                                "[1]",
		`{"nested":{"deep":{"k":"\u0000"}}}`:                               "nested.deep.k",
		`{"a":{"x":1},"b":"\u0000"}`:                                       "b",
		`"\u0000"`:                                                         "",
	} {
		if got := nulJSONField([]byte(in)); got != want {
			t.Errorf("nulJSONField(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestNulPathField(t *testing.T) {
	for _, c := range []struct{ pattern, path, want string }{
		{"GET /api/files/backup/{key...}", "/api/files/backup/a/b\x00c", "key"},
		{"GET /invites/{code}", "/invites/a\x00b", "code"},
		{"DELETE /api/personas/{id}/files/{fileId}", "/api/personas/p1/files/f\x00", "fileId"},
		{"GET /api/sessions/{id}/messages", "/api/sessions/x\x00/messages", "id"},
	} {
		if got := nulPathField(c.pattern, c.path); got != c.want {
			t.Errorf("nulPathField(%q, %q) = %q, want %q", c.pattern, c.path, got, c.want)
		}
	}
}

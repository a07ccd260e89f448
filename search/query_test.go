package search

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Parsed
	}{
		{"", Parsed{}},
		{"Control plane", Parsed{Pos: []Term{{Words: []string{"control"}}, {Words: []string{"plane"}}}}},
		{`"Session Actor" -draft`, Parsed{Pos: []Term{{Words: []string{"session", "actor"}, Phrase: true}}, Neg: []Term{{Words: []string{"draft"}}}}},
		{`foo-bar a -x -"old stuff`, Parsed{Pos: []Term{{Words: []string{"foo", "bar"}}}, Neg: []Term{{Words: []string{"old", "stuff"}, Phrase: true}}}},
		{"Café ZÜRICH", Parsed{Pos: []Term{{Words: []string{"cafe"}}, {Words: []string{"zurich"}}}}},
		{"- -- \"\" *", Parsed{}},
		{"NOT AND", Parsed{Pos: []Term{{Words: []string{"not"}}, {Words: []string{"and"}}}}},
		{`"a"`, Parsed{Pos: []Term{{Words: []string{"a"}, Phrase: true}}}},
	} {
		if got := Parse(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	long := strings.Repeat("word ", 1000)
	if got := Parse(long); len(got.Pos) != maxTerms {
		t.Errorf("a long query keeps %d terms, want %d", len(got.Pos), maxTerms)
	}
}

func TestSnippet(t *testing.T) {
	content := "l1\nl2\nl3\nl4 coffee\nl5 coffee beans\nl6\nl7\nl8\nl9"
	got := Snippet(content, []string{"coffee", "beans"})
	want := "[...]\nl3\nl4 coffee\nl5 coffee beans\nl6\nl7\n[...]"
	if got != want {
		t.Errorf("snippet %q, want %q", got, want)
	}
	if got := Snippet("only line", []string{"zzz"}); got != "only line" {
		t.Errorf("no match: %q", got)
	}
	if got := Snippet("Zürich trip", []string{"zurich"}); got != "Zürich trip" {
		t.Errorf("folded match: %q", got)
	}
}

func TestStemPrefix(t *testing.T) {
	for w, want := range map[string]string{
		"running": "run", "deploys": "deploy", "happy": "happ", "migrations": "migrat",
		"control": "control", "zurich": "zurich", "日本語": "日本語", "go": "go", "x2": "x2",
	} {
		if got := stemPrefix(w); got != want {
			t.Errorf("stemPrefix(%q) = %q, want %q", w, got, want)
		}
	}
}

func TestTokenText(t *testing.T) {
	k := userKey("user-1")
	if len(k) != 16 || k == userKey("user-2") {
		t.Fatalf("keys %q %q", k, userKey("user-2"))
	}
	if got, want := tokenText("k", "Café, ZÜRICH-2025/notes.md"), "kcafe kzurich k2025 knotes kmd"; got != want {
		t.Errorf("tokenText = %q, want %q", got, want)
	}
}

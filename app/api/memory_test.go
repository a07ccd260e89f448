package api_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// file returns the "file" object of a response.
func file(r resp) map[string]any {
	f, _ := r.Body["file"].(map[string]any)
	return f
}

func q(s string) string { return url.QueryEscape(s) }

func listPaths(t *testing.T, r resp) []string {
	t.Helper()
	expect(t, r, 200, "")
	files, ok := r.Body["files"].([]any)
	if !ok {
		t.Fatalf("no files array: %s", r.Raw)
	}
	var out []string
	for _, f := range files {
		out = append(out, f.(map[string]any)["path"].(string))
	}
	return out
}

func searchPaths(t *testing.T, r resp) []string {
	t.Helper()
	expect(t, r, 200, "")
	res, ok := r.Body["results"].([]any)
	if !ok {
		t.Fatalf("no results array: %s", r.Raw)
	}
	var out []string
	for _, h := range res {
		out = append(out, h.(map[string]any)["path"].(string))
	}
	return out
}

func TestMemoryFiles(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOpts{})
		tok := e.register("ann@example.com", pw)

		r := e.call("PUT", "/api/me/memory", tok, map[string]any{"path": "/Notes/Smoke Test.md", "content": "# Smoke Test\nhello memory"})
		expect(t, r, 201, "")
		f := file(r)
		if f["path"] != "notes/smoke-test.md" || f["title"] != "Smoke Test" || f["version"] != 1.0 || f["pinned"] != false ||
			f["relevance"] != 1.0 || f["orgId"] != "default" || !strings.HasSuffix(f["createdAt"].(string), "Z") {
			t.Fatalf("created file: %s", r.Raw)
		}
		r = e.call("PUT", "/api/me/memory", tok, map[string]any{"path": "notes/smoke-test.md", "content": "# Smoke Test\nhello again"})
		expect(t, r, 201, "")
		if f := file(r); f["version"] != 2.0 || f["content"] != "# Smoke Test\nhello again" {
			t.Fatalf("overwrite bumps the version: %s", r.Raw)
		}

		// Reading a file raises its relevance.
		r = e.call("GET", "/api/me/memory?path="+q("notes/smoke-test.md"), tok, nil)
		expect(t, r, 200, "")
		if f := file(r); f["content"] != "# Smoke Test\nhello again" || f["relevance"] != 1.1 {
			t.Fatalf("read: %s", r.Raw)
		}
		r = e.call("GET", "/api/me/memory?path=notes/missing.md", tok, nil)
		expect(t, r, 200, "")
		if r.Body["file"] != nil || r.Body["content"] != "" || !strings.Contains(string(r.Raw), `"file":null`) {
			t.Fatalf("a missing file is 200 with file null: %s", r.Raw)
		}

		// Patch: every operation, in order; what does not apply is reported.
		expect(t, e.call("PUT", "/api/me/memory", tok, map[string]any{"path": "notes/plan.md",
			"content": "# Plan\n## Today\n- write tests\n## Later\n- docs\n## Done\n- nothing"}), 201, "")
		r = e.call("PATCH", "/api/me/memory", tok, map[string]any{"path": "notes/plan.md", "operations": []map[string]any{
			{"op": "append", "content": "\n- footer"},
			{"op": "prepend", "content": "<!--top-->\n"},
			{"op": "replace", "old": "write tests", "new": "write more tests"},
			{"op": "replace_all", "old": "- ", "new": "* "},
			{"op": "insert_after", "anchor": "## Later", "content": "* benchmarks"},
			{"op": "delete_section", "heading": "## Done"},
			{"op": "replace", "old": "not there", "new": "x"},
			{"op": "insert_after", "anchor": "no anchor", "content": "x"},
			{"op": "delete_section", "heading": "## Missing"},
		}})
		expect(t, r, 200, "")
		res := r.Body["result"].(map[string]any)
		want := "<!--top-->\n# Plan\n## Today\n* write more tests\n## Later\n* benchmarks\n* docs"
		if res["content"] != want || res["applied"] != 6.0 || res["version"] != 2.0 || len(res["skipped"].([]any)) != 3 {
			t.Fatalf("patch result: %s\nwant content %q", r.Raw, want)
		}
		// A patch on a missing file: append creates it; other ops alone do not.
		r = e.call("PATCH", "/api/me/memory", tok, map[string]any{"path": "notes/new.md", "operations": []map[string]any{{"op": "append", "content": "fresh"}}})
		expect(t, r, 200, "")
		if res := r.Body["result"].(map[string]any); res["content"] != "fresh" || res["version"] != 1.0 {
			t.Fatalf("append creates: %s", r.Raw)
		}
		r = e.call("PATCH", "/api/me/memory", tok, map[string]any{"path": "notes/none.md", "operations": []map[string]any{{"op": "replace", "old": "a", "new": "b"}}})
		expect(t, r, 200, "")
		if res := r.Body["result"].(map[string]any); res["applied"] != 0.0 || res["version"] != 0.0 {
			t.Fatalf("nothing applied on a missing file: %s", r.Raw)
		}

		// Listings.
		expect(t, e.call("PUT", "/api/me/memory", tok, map[string]any{"path": "preferences/style.md", "content": "tabs"}), 201, "")
		if got := listPaths(t, e.call("GET", "/api/me/memory?path=notes/", tok, nil)); strings.Join(got, ",") != "notes/new.md,notes/plan.md,notes/smoke-test.md" {
			t.Fatalf("notes/ listing: %v", got)
		}
		r = e.call("GET", "/api/me/memory", tok, nil)
		if got := listPaths(t, r); len(got) != 4 || got[0] != "notes/new.md" || got[3] != "preferences/style.md" {
			t.Fatalf("whole listing: %v", got)
		}
		if !strings.Contains(string(r.Raw), `{"path":"preferences/style.md","size":4,`) || !strings.Contains(string(r.Raw), `"pinned":true`) {
			t.Fatalf("listing entries carry size and pinned: %s", r.Raw)
		}

		// Search.
		if got := searchPaths(t, e.call("GET", "/api/me/memory/search?query="+q("smoke test"), tok, nil)); len(got) != 1 || got[0] != "notes/smoke-test.md" {
			t.Fatalf("search: %v", got)
		}
		r = e.call("GET", "/api/me/memory/search?query=benchmarks", tok, nil)
		if got := searchPaths(t, r); len(got) != 1 || !strings.Contains(string(r.Raw), `"snippet":"`) || !strings.Contains(string(r.Raw), "benchmarks") {
			t.Fatalf("search with snippet: %s", r.Raw)
		}
		if got := searchPaths(t, e.call("GET", "/api/me/memory/search?query=tabs&path=notes", tok, nil)); len(got) != 0 {
			t.Fatalf("path filter: %v", got)
		}
		if got := searchPaths(t, e.call("GET", "/api/me/memory/search?query=tabs&path=preferences/", tok, nil)); len(got) != 1 {
			t.Fatalf("path filter: %v", got)
		}

		// Delete a file, then a directory.
		r = e.call("DELETE", "/api/me/memory?path=notes/new.md", tok, nil)
		expect(t, r, 200, "")
		if r.Body["success"] != true || r.Body["deleted"] != 1.0 {
			t.Fatalf("delete: %s", r.Raw)
		}
		r = e.call("DELETE", "/api/me/memory?path=notes/new.md", tok, nil)
		if r.Body["success"] != false || r.Body["deleted"] != 0.0 {
			t.Fatalf("delete again: %s", r.Raw)
		}
		r = e.call("DELETE", "/api/me/memory?path=notes/", tok, nil)
		if r.Body["deleted"] != 2.0 {
			t.Fatalf("delete a directory: %s", r.Raw)
		}
		if got := searchPaths(t, e.call("GET", "/api/me/memory/search?query=smoke", tok, nil)); len(got) != 0 {
			t.Fatalf("deleted files are gone from search: %v", got)
		}
	})
}

func TestMemoryBadInputChangesNothing(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOpts{})
		tok := e.register("ann@example.com", pw)
		expect(t, e.call("PUT", "/api/me/memory", tok, map[string]any{"path": "a/b.md", "content": "original"}), 201, "")
		unchanged := func(what string) {
			t.Helper()
			r := e.call("GET", "/api/me/memory?path=a/b.md", tok, nil)
			if f := file(r); f == nil || f["content"] != "original" || f["version"] != 1.0 {
				t.Fatalf("%s changed the file: %s", what, r.Raw)
			}
			if got := listPaths(t, e.call("GET", "/api/me/memory", tok, nil)); len(got) != 1 {
				t.Fatalf("%s created files: %v", what, got)
			}
		}
		deep := "a/b/c/d/e.md"
		long := strings.Repeat("x", 257)
		for _, tc := range []struct {
			method, path string
			body         any
			field        string
		}{
			{"PUT", "/api/me/memory", map[string]any{"path": "", "content": "x"}, "path"},
			{"PUT", "/api/me/memory", map[string]any{"path": "../..//./", "content": "x"}, "path"},
			{"PUT", "/api/me/memory", map[string]any{"path": "%%%", "content": "x"}, "path"},
			{"PUT", "/api/me/memory", map[string]any{"path": deep, "content": "x"}, "path"},
			{"PUT", "/api/me/memory", map[string]any{"path": long, "content": "x"}, "path"},
			{"PUT", "/api/me/memory", map[string]any{"path": "a/b.md", "content": ""}, "content"},
			{"PUT", "/api/me/memory", map[string]any{"path": "a/b.md", "content": strings.Repeat("é", 50001)}, "content"},
			{"PUT", "/api/me/memory", map[string]any{"path": "a/b.md", "content": "nul\x00byte"}, "content"},
			{"PUT", "/api/me/memory", map[string]any{"path": "a/b.md"}, "content"},
			{"PUT", "/api/me/memory", map[string]any{"content": "x"}, "path"},
			{"PUT", "/api/me/memory", map[string]any{"path": 7, "content": "x"}, "path"},
			{"PUT", "/api/me/memory", `{"path": "a/b.md", "content": `, ""},
			{"PATCH", "/api/me/memory", map[string]any{"path": "a/b.md", "operations": []any{}}, "operations"},
			{"PATCH", "/api/me/memory", map[string]any{"path": "a/b.md"}, "operations"},
			{"PATCH", "/api/me/memory", map[string]any{"path": "a/b.md", "operations": []map[string]any{{"op": "append", "content": "x"}, {"op": "explode"}}}, "operations[1].op"},
			{"PATCH", "/api/me/memory", map[string]any{"path": "a/b.md", "operations": []map[string]any{{"op": "replace", "new": "x"}}}, "operations[0].old"},
			{"PATCH", "/api/me/memory", map[string]any{"path": "a/b.md", "operations": []map[string]any{{"op": "insert_after", "anchor": "original"}}}, "operations[0].content"},
			{"PATCH", "/api/me/memory", map[string]any{"path": "a/b.md", "operations": []map[string]any{{"op": "delete_section", "heading": "Not a heading"}}}, "operations[0].heading"},
			{"PATCH", "/api/me/memory", map[string]any{"path": "a/b.md", "operations": []map[string]any{{"op": "append", "content": strings.Repeat("x", 50000)}}}, "operations"},
			{"PATCH", "/api/me/memory", map[string]any{"path": "a/b.md", "operations": manyOps(21)}, "operations"},
			{"PATCH", "/api/me/memory", map[string]any{"path": "a/b.md", "operations": "append"}, "operations"},
			{"PATCH", "/api/me/memory", map[string]any{"path": deep, "operations": manyOps(1)}, "path"},
			{"DELETE", "/api/me/memory", nil, "path"},
			{"DELETE", "/api/me/memory?path=/", nil, "path"},
			{"DELETE", "/api/me/memory?path=" + deep, nil, "path"},
			{"GET", "/api/me/memory/search", nil, "query"},
			{"GET", "/api/me/memory/search?query=", nil, "query"},
			{"GET", "/api/me/memory/search?query=x&limit=0", nil, "limit"},
			{"GET", "/api/me/memory/search?query=x&limit=abc", nil, "limit"},
			{"GET", "/api/me/memory?path=" + deep, nil, "path"},
		} {
			r := e.call(tc.method, tc.path, tok, tc.body)
			expect(t, r, 400, "VALIDATION_ERROR")
			if tc.field != "" {
				if d, _ := r.Body["details"].(map[string]any); d["field"] != tc.field {
					t.Errorf("%s %s %v: details %v, want field %s", tc.method, tc.path, tc.body, r.Body["details"], tc.field)
				}
			}
			unchanged(fmt.Sprintf("%s %s", tc.method, tc.path))
		}
		// Any query string is accepted by search.
		for _, query := range []string{`"`, "-", "NOT AND", "(", "x:*", "'); DROP TABLE memory_files; --", "\x7f"} {
			expect(t, e.call("GET", "/api/me/memory/search?query="+q(query), tok, nil), 200, "")
		}
		// Without a token.
		expect(t, e.call("GET", "/api/me/memory", "", nil), 401, "")
	})
}

func manyOps(n int) []map[string]any {
	ops := make([]map[string]any, n)
	for i := range ops {
		ops[i] = map[string]any{"op": "append", "content": "x"}
	}
	return ops
}

// TestMemoryIsPerUser: nothing of one user's memory is visible to or
// changeable by another.
func TestMemoryIsPerUser(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOpts{openSignup: true})
		ann := e.register("ann@example.com", pw)
		bob := e.register("bob@example.com", pw)
		expect(t, e.call("PUT", "/api/me/memory", ann, map[string]any{"path": "secret/plan.md", "content": "ann's secret launch plan"}), 201, "")

		if r := e.call("GET", "/api/me/memory?path=secret/plan.md", bob, nil); r.Body["file"] != nil {
			t.Fatalf("bob reads ann's file: %s", r.Raw)
		}
		if got := listPaths(t, e.call("GET", "/api/me/memory", bob, nil)); len(got) != 0 {
			t.Fatalf("bob lists ann's files: %v", got)
		}
		if got := searchPaths(t, e.call("GET", "/api/me/memory/search?query=launch", bob, nil)); len(got) != 0 {
			t.Fatalf("bob finds ann's file: %v", got)
		}
		if r := e.call("DELETE", "/api/me/memory?path=secret/", bob, nil); r.Body["deleted"] != 0.0 {
			t.Fatalf("bob deletes ann's files: %s", r.Raw)
		}
		// Bob's own file at the same path is his.
		expect(t, e.call("PUT", "/api/me/memory", bob, map[string]any{"path": "secret/plan.md", "content": "bob's"}), 201, "")
		if r := e.call("GET", "/api/me/memory?path=secret/plan.md", ann, nil); file(r)["content"] != "ann's secret launch plan" {
			t.Fatalf("ann's file changed: %s", r.Raw)
		}
	})
}

// TestMemoryCapEvictsLeastRelevant: past the cap, the least relevant
// unpinned file goes (and leaves search); pinned files do not count.
func TestMemoryCapEvictsLeastRelevant(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOpts{memoryMaxFiles: 3})
		tok := e.register("ann@example.com", pw)
		put := func(path string) {
			t.Helper()
			expect(t, e.call("PUT", "/api/me/memory", tok, map[string]any{"path": path, "content": "cap test " + path}), 201, "")
		}
		read := func(path string) {
			t.Helper()
			expect(t, e.call("GET", "/api/me/memory?path="+path, tok, nil), 200, "")
		}
		put("a.md")
		put("b.md")
		put("c.md")
		read("a.md")
		read("a.md")
		read("c.md")
		put("preferences/p1.md")
		put("preferences/p2.md")
		if got := listPaths(t, e.call("GET", "/api/me/memory", tok, nil)); len(got) != 5 {
			t.Fatalf("pinned files do not count toward the cap: %v", got)
		}
		put("d.md") // b has the lowest relevance: it goes
		got := listPaths(t, e.call("GET", "/api/me/memory", tok, nil))
		if strings.Join(got, ",") != "a.md,c.md,d.md,preferences/p1.md,preferences/p2.md" {
			t.Fatalf("after eviction: %v", got)
		}
		if got := searchPaths(t, e.call("GET", "/api/me/memory/search?query=cap", tok, nil)); len(got) != 5 {
			t.Fatalf("the evicted file leaves the index with its row: %v", got)
		}
		put("e.md") // d (new, relevance 1, read never) ties with nothing lower: d goes before c (read)
		if got := listPaths(t, e.call("GET", "/api/me/memory", tok, nil)); strings.Join(got, ",") != "a.md,c.md,e.md,preferences/p1.md,preferences/p2.md" {
			t.Fatalf("second eviction: %v", got)
		}
	})
}

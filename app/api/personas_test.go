package api_test

import (
	"strings"
	"testing"

	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func personaOf(r resp) map[string]any {
	p, _ := r.Body["persona"].(map[string]any)
	return p
}

func personaIDs(t *testing.T, r resp) []string {
	t.Helper()
	expect(t, r, 200, "")
	var out []string
	for _, p := range r.Body["personas"].([]any) {
		out = append(out, p.(map[string]any)["slug"].(string))
	}
	return out
}

func TestPersonasCRUD(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOpts{})
		tok := e.register("admin@example.com", pw)
		if got := personaIDs(t, e.call("GET", "/api/personas", tok, nil)); len(got) != 0 {
			t.Fatalf("no personas yet: %v", got)
		}
		r := e.call("POST", "/api/personas", tok, map[string]any{"name": "Reviewer", "slug": "smoke-reviewer", "description": "Reviews code",
			"files": []map[string]any{{"filename": "b.md", "content": "Second", "sortOrder": 2}, {"filename": "a.md", "content": "First", "sortOrder": 1}}})
		expect(t, r, 201, "")
		p := personaOf(r)
		id, _ := p["id"].(string)
		if id == "" || p["visibility"] != "shared" || p["isDefault"] != false || p["fileCount"] != 2.0 || p["orgId"] != "default" {
			t.Fatalf("created: %s", r.Raw)
		}
		r = e.call("GET", "/api/personas/"+id, tok, nil)
		expect(t, r, 200, "")
		files := personaOf(r)["files"].([]any)
		if len(files) != 2 || files[0].(map[string]any)["filename"] != "a.md" || files[1].(map[string]any)["content"] != "Second" {
			t.Fatalf("files by sort order: %s", r.Raw)
		}
		r = e.call("GET", "/api/personas", tok, nil)
		if !strings.Contains(string(r.Raw), `"fileCount":2`) {
			t.Fatalf("list carries file counts: %s", r.Raw)
		}

		expect(t, e.call("PUT", "/api/personas/"+id, tok, map[string]any{"name": "Strict reviewer", "icon": "🔍"}), 200, "")
		if p := personaOf(e.call("GET", "/api/personas/"+id, tok, nil)); p["name"] != "Strict reviewer" || p["icon"] != "🔍" || p["slug"] != "smoke-reviewer" {
			t.Fatalf("update: %v", p)
		}
		// Files: replace all, put one by name, delete one.
		expect(t, e.call("PUT", "/api/personas/"+id+"/files", tok, []map[string]any{{"filename": "rules.md", "content": "Be strict."}}), 200, "")
		expect(t, e.call("POST", "/api/personas/"+id+"/files", tok, map[string]any{"filename": "rules.md", "content": "Be very strict.", "sortOrder": 3}), 200, "")
		expect(t, e.call("POST", "/api/personas/"+id+"/files", tok, map[string]any{"filename": "style.md", "content": "Short."}), 200, "")
		files = personaOf(e.call("GET", "/api/personas/"+id, tok, nil))["files"].([]any)
		if len(files) != 2 || files[0].(map[string]any)["filename"] != "style.md" || files[1].(map[string]any)["content"] != "Be very strict." {
			t.Fatalf("files after replace and put: %v", files)
		}
		styleID := files[0].(map[string]any)["id"].(string)
		expect(t, e.call("DELETE", "/api/personas/"+id+"/files/"+styleID, tok, nil), 200, "")
		expect(t, e.call("DELETE", "/api/personas/"+id+"/files/"+styleID, tok, nil), 404, "")

		// Slugs are unique.
		expect(t, e.call("POST", "/api/personas", tok, map[string]any{"name": "Other", "slug": "smoke-reviewer"}), 409, "CONFLICT")

		expect(t, e.call("DELETE", "/api/personas/"+id, tok, nil), 200, "")
		r = e.call("GET", "/api/personas/"+id, tok, nil)
		expect(t, r, 404, "")
		if r.str("error") != "Persona not found" {
			t.Fatalf("404 body: %s", r.Raw)
		}
	})
}

func TestPersonasAccess(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOpts{openSignup: true})
		admin := e.register("admin@example.com", pw)
		member := e.register("member@example.com", pw)
		mk := func(tok string, body map[string]any) string {
			t.Helper()
			r := e.call("POST", "/api/personas", tok, body)
			expect(t, r, 201, "")
			return personaOf(r)["id"].(string)
		}
		private := mk(admin, map[string]any{"name": "Mine", "slug": "mine", "visibility": "private", "files": []map[string]any{{"filename": "x.md", "content": "secret"}}})
		shared := mk(admin, map[string]any{"name": "Team", "slug": "team"})
		own := mk(member, map[string]any{"name": "Member's", "slug": "members"})

		if got := personaIDs(t, e.call("GET", "/api/personas", member, nil)); strings.Join(got, ",") != "members,team" {
			t.Fatalf("member sees %v", got)
		}
		expect(t, e.call("GET", "/api/personas/"+private, member, nil), 404, "")
		expect(t, e.call("PUT", "/api/personas/"+private, member, map[string]any{"name": "x"}), 404, "")
		expect(t, e.call("DELETE", "/api/personas/"+private+"/files/whatever", member, nil), 404, "")
		expect(t, e.call("PUT", "/api/personas/"+shared, member, map[string]any{"name": "x"}), 403, "")
		expect(t, e.call("DELETE", "/api/personas/"+shared, member, nil), 403, "")
		expect(t, e.call("PUT", "/api/personas/"+shared+"/files", member, []any{}), 403, "")
		expect(t, e.call("PUT", "/api/personas/"+own, member, map[string]any{"name": "Renamed"}), 200, "")
		expect(t, e.call("PUT", "/api/personas/"+own, admin, map[string]any{"description": "an admin may edit"}), 200, "")

		// Only admins pick the default; there is one default at a time.
		expect(t, e.call("POST", "/api/personas", member, map[string]any{"name": "D", "slug": "d", "isDefault": true}), 403, "")
		expect(t, e.call("PUT", "/api/personas/"+own, member, map[string]any{"isDefault": true}), 403, "")
		expect(t, e.call("PUT", "/api/personas/"+shared, admin, map[string]any{"isDefault": true}), 200, "")
		expect(t, e.call("PUT", "/api/personas/"+own, admin, map[string]any{"isDefault": true}), 200, "")
		r := e.call("GET", "/api/personas", admin, nil)
		if got := personaIDs(t, r); got[0] != "members" || strings.Count(string(r.Raw), `"isDefault":true`) != 1 {
			t.Fatalf("one default, listed first: %s", r.Raw)
		}
		// Editing the default persona (the member owns it) keeps it the
		// default: only an admin's isDefault changes that.
		expect(t, e.call("PUT", "/api/personas/"+own, member, map[string]any{"name": "Still the default"}), 200, "")
		expect(t, e.call("PUT", "/api/personas/"+own, admin, map[string]any{"description": "edited by an admin"}), 200, "")
		if p := personaOf(e.call("GET", "/api/personas/"+own, admin, nil)); p["isDefault"] != true {
			t.Fatalf("an edit took the default flag away: %v", p)
		}

		// Slugs are unique per owner: another user's private persona does
		// not take a slug away (nor does a 409 reveal it), the owner's own
		// slugs still conflict.
		mk(member, map[string]any{"name": "My own", "slug": "mine", "visibility": "private"})
		expect(t, e.call("POST", "/api/personas", admin, map[string]any{"name": "Again", "slug": "mine"}), 409, "CONFLICT")
		expect(t, e.call("PUT", "/api/personas/"+shared, admin, map[string]any{"slug": "mine"}), 409, "CONFLICT")

		// A file id of another persona is not this persona's (upstream
		// deleted any file by id).
		files := personaOf(e.call("GET", "/api/personas/"+private, admin, nil))["files"].([]any)
		fileID := files[0].(map[string]any)["id"].(string)
		expect(t, e.call("DELETE", "/api/personas/"+own+"/files/"+fileID, member, nil), 404, "")
		if files := personaOf(e.call("GET", "/api/personas/"+private, admin, nil))["files"].([]any); len(files) != 1 {
			t.Fatalf("another persona's file was deleted: %v", files)
		}
	})
}

func TestPersonasBadInput(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOpts{})
		tok := e.register("admin@example.com", pw)
		r := e.call("POST", "/api/personas", tok, map[string]any{"name": "Keep", "slug": "keep", "files": []map[string]any{{"filename": "k.md", "content": "kept"}}})
		expect(t, r, 201, "")
		id := personaOf(r)["id"].(string)
		for _, tc := range []struct {
			method, path string
			body         any
			field        string
		}{
			{"POST", "/api/personas", map[string]any{"slug": "x"}, "name"},
			{"POST", "/api/personas", map[string]any{"name": "x"}, "slug"},
			{"POST", "/api/personas", map[string]any{"name": "", "slug": "x"}, "name"},
			{"POST", "/api/personas", map[string]any{"name": "x", "slug": "Bad Slug"}, "slug"},
			{"POST", "/api/personas", map[string]any{"name": strings.Repeat("n", 101), "slug": "x"}, "name"},
			{"POST", "/api/personas", map[string]any{"name": "x", "slug": "x", "visibility": "public"}, "visibility"},
			{"POST", "/api/personas", map[string]any{"name": "x", "slug": "x", "icon": strings.Repeat("i", 11)}, "icon"},
			{"POST", "/api/personas", map[string]any{"name": "x", "slug": "x", "files": []map[string]any{{"filename": "a.md"}}}, "files[0].content"},
			{"POST", "/api/personas", map[string]any{"name": "x", "slug": "x", "files": []map[string]any{{"filename": "../a.md", "content": "c"}}}, "files[0].filename"},
			{"POST", "/api/personas", map[string]any{"name": "x", "slug": "x", "files": []map[string]any{{"filename": "a", "content": "c"}, {"filename": "a", "content": "d"}}}, "files[1].filename"},
			{"POST", "/api/personas", map[string]any{"name": "x", "slug": "x", "files": []map[string]any{{"filename": "a", "content": "c", "sortOrder": -1}}}, "files[0].sortOrder"},
			{"POST", "/api/personas", map[string]any{"name": 5, "slug": "x"}, "name"},
			{"PUT", "/api/personas/" + id, map[string]any{"slug": "NO"}, "slug"},
			{"PUT", "/api/personas/" + id, map[string]any{"files": []any{}}, "files"},
			{"PUT", "/api/personas/" + id + "/files", map[string]any{"filename": "not an array"}, ""},
			{"PUT", "/api/personas/" + id + "/files", []map[string]any{{"filename": "", "content": "c"}}, "files[0].filename"},
			{"POST", "/api/personas/" + id + "/files", map[string]any{"filename": "z.md"}, "content"},
		} {
			r := e.call(tc.method, tc.path, tok, tc.body)
			expect(t, r, 400, "VALIDATION_ERROR")
			if d, _ := r.Body["details"].(map[string]any); tc.field != "" && d["field"] != tc.field {
				t.Errorf("%s %s %v: details %v, want field %s", tc.method, tc.path, tc.body, r.Body["details"], tc.field)
			}
		}
		if got := personaIDs(t, e.call("GET", "/api/personas", tok, nil)); len(got) != 1 {
			t.Fatalf("bad input created personas: %v", got)
		}
		p := personaOf(e.call("GET", "/api/personas/"+id, tok, nil))
		if p["slug"] != "keep" || len(p["files"].([]any)) != 1 {
			t.Fatalf("bad input changed the persona: %v", p)
		}
		expect(t, e.call("GET", "/api/personas/not-a-uuid", tok, nil), 404, "")
	})
}

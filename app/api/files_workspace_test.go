package api_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agentops/agentops/app/workspace"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func TestWorkspaceFiles(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newFilesEnv(t, st, filesOpts{limits: workspace.Limits{ReadBytes: 1024}})
		ada := e.register("ada@example.com", pw)
		sid := e.newSession(ada)
		q := "?sessionId=" + sid
		ws := filepath.Join(e.wsRoot, sid)
		outside := t.TempDir()
		mkfile(t, outside, "secret.txt", "top secret: func main")
		mkfile(t, ws, "README.md", "# Project\nRun it with go run.\n")
		mkfile(t, ws, "src/main.go", "package main\n\nfunc main() {\n\tprintln(\"Hello\")\n}\n")
		mkfile(t, ws, "src/util/helpers.go", "package util\n\n// Helper says hello.\nfunc Helper() {}\n")
		mkfile(t, ws, "docs/guide.md", "A guide to the main loop.\r\nfunc main appears here too.\r\n")
		mkfile(t, ws, ".git/config", "func main in git internals")
		mkfile(t, ws, "node_modules/dep/index.js", "function main() {}")
		mkfile(t, ws, "big.txt", strings.Repeat("x", 2000))
		if err := os.WriteFile(filepath.Join(ws, "blob.bin"), []byte{0x89, 'P', 'N', 'G', 0, 0xff, 'f', 'u', 'n', 'c'}, 0o600); err != nil {
			t.Fatal(err)
		}
		for link, target := range map[string]string{
			"escape.txt": filepath.Join(outside, "secret.txt"), // a file outside
			"outdir":     outside,                              // a folder outside
			"alias.go":   "src/main.go",                        // inside: fine
			"dangling":   "nowhere",
		} {
			if err := os.Symlink(target, filepath.Join(ws, link)); err != nil {
				t.Fatal(err)
			}
		}

		// list: folders first, then files; links as their targets; links
		// that leave the workspace (or lead nowhere) and .git left out.
		r := e.call("GET", "/api/files/list"+q, ada, nil)
		expect(t, r, 200, "")
		var got []string
		for _, f := range r.Body["files"].([]any) {
			m := f.(map[string]any)
			got = append(got, m["type"].(string)[:1]+":"+m["name"].(string)+"="+m["path"].(string))
		}
		want := []string{"d:docs=docs", "d:node_modules=node_modules", "d:src=src",
			"f:README.md=README.md", "f:alias.go=alias.go", "f:big.txt=big.txt", "f:blob.bin=blob.bin"}
		if !slices.Equal(got, want) {
			t.Fatalf("list root:\n got %q\nwant %q", got, want)
		}
		for _, p := range []string{"/", "", "."} {
			if r2 := e.call("GET", "/api/files/list"+q+"&path="+p, ada, nil); string(r2.Raw) != string(r.Raw) {
				t.Fatalf("path %q is not the root: %s", p, r2.Raw)
			}
		}
		r = e.call("GET", "/api/files/list"+q+"&path=src", ada, nil)
		expect(t, r, 200, "")
		if files := r.Body["files"].([]any); len(files) != 2 || files[0].(map[string]any)["path"] != "src/util" || files[1].(map[string]any)["path"] != "src/main.go" {
			t.Fatalf("list src: %s", r.Raw)
		}

		// read
		r = e.call("GET", "/api/files/read"+q+"&path=src/main.go", ada, nil)
		expect(t, r, 200, "")
		if !strings.Contains(r.str("content"), "func main()") || r.str("path") != "src/main.go" || r.Body["encoding"] != nil {
			t.Fatalf("read: %s", r.Raw)
		}
		if r := e.call("GET", "/api/files/read"+q+"&path=alias.go", ada, nil); !strings.Contains(r.str("content"), "func main()") {
			t.Fatalf("read through an inner link: %s", r.Raw)
		}
		r = e.call("GET", "/api/files/read"+q+"&path=blob.bin", ada, nil)
		expect(t, r, 200, "")
		if b, err := base64.StdEncoding.DecodeString(r.str("content")); err != nil || r.str("encoding") != "base64" || len(b) != 10 || b[4] != 0 {
			t.Fatalf("binary read: %s", r.Raw)
		}

		// find: fuzzy by name; names that contain the query first.
		r = e.call("GET", "/api/files/find"+q+"&query=help", ada, nil)
		expect(t, r, 200, "")
		if paths := strs(r.Body["paths"]); !slices.Equal(paths, []string{"src/util/helpers.go"}) {
			t.Fatalf("find help: %q", paths)
		}
		r = e.call("GET", "/api/files/find"+q+"&query=MAIN", ada, nil)
		if paths := strs(r.Body["paths"]); len(paths) == 0 || paths[0] != "src/main.go" || slices.Contains(paths, "node_modules/dep/index.js") {
			t.Fatalf("find main: %q", paths)
		}
		r = e.call("GET", "/api/files/find"+q+"&query=sutlh", ada, nil) // s-u-t-l-h in src/util/helpers.go
		if paths := strs(r.Body["paths"]); !slices.Equal(paths, []string{"src/util/helpers.go"}) {
			t.Fatalf("fuzzy find: %q", paths)
		}
		r = e.call("GET", "/api/files/find"+q+"&query=.go&limit=1", ada, nil)
		if paths := strs(r.Body["paths"]); len(paths) != 1 {
			t.Fatalf("find limit: %q", paths)
		}
		if r := e.call("GET", "/api/files/find"+q+"&query=secret", ada, nil); len(strs(r.Body["paths"])) != 0 {
			t.Fatalf("find followed a link out: %s", r.Raw)
		}

		// search: literal text, smart case; .git, node_modules, binary
		// files and links skipped.
		r = e.call("GET", "/api/files/search"+q+"&query=func+main", ada, nil)
		expect(t, r, 200, "")
		type m struct {
			path    string
			line    int
			content string
		}
		var hits []m
		for _, x := range r.Body["results"].([]any) {
			x := x.(map[string]any)
			hits = append(hits, m{x["path"].(string), int(x["line"].(float64)), x["content"].(string)})
		}
		wantHits := []m{{"docs/guide.md", 2, "func main appears here too."}, {"src/main.go", 3, "func main() {"}}
		if !slices.Equal(hits, wantHits) || r.Body["truncated"] != nil {
			t.Fatalf("search:\n got %+v\nwant %+v\n%s", hits, wantHits, r.Raw)
		}
		if r := e.call("GET", "/api/files/search"+q+"&query=HELLO", ada, nil); len(r.Body["results"].([]any)) != 0 {
			t.Fatalf("an upper-case query is case-sensitive: %s", r.Raw)
		}
		if r := e.call("GET", "/api/files/search"+q+"&query=hello", ada, nil); len(r.Body["results"].([]any)) != 2 {
			t.Fatalf("a lower-case query ignores case: %s", r.Raw)
		}
		r = e.call("GET", "/api/files/search"+q+"&query=main&limit=1", ada, nil)
		if len(r.Body["results"].([]any)) != 1 || r.Body["truncated"] != true {
			t.Fatalf("search limit: %s", r.Raw)
		}

		// Bad input and other people's sessions.
		bob := e.register("bob@example.com", pw)
		for _, c := range []struct {
			name, path, token string
			status            int
			field             string
		}{
			{"read traversal", "/api/files/read" + q + "&path=../" + sid + "/README.md", ada, 400, "path"},
			{"read inner traversal", "/api/files/read" + q + "&path=src/../../x", ada, 400, "path"},
			{"read absolute", "/api/files/read" + q + "&path=/etc/passwd", ada, 400, "path"},
			{"read escaping link", "/api/files/read" + q + "&path=escape.txt", ada, 400, "path"},
			{"read through escaping folder link", "/api/files/read" + q + "&path=outdir/secret.txt", ada, 400, "path"},
			{"list escaping folder link", "/api/files/list" + q + "&path=outdir", ada, 400, "path"},
			{"list traversal", "/api/files/list" + q + "&path=..", ada, 400, "path"},
			{"read NUL", "/api/files/read" + q + "&path=a%00b", ada, 400, "path"},
			{"read missing", "/api/files/read" + q + "&path=nope.txt", ada, 404, ""},
			{"read dangling", "/api/files/read" + q + "&path=dangling", ada, 404, ""},
			{"read folder", "/api/files/read" + q + "&path=src", ada, 400, "path"},
			{"read no path", "/api/files/read" + q, ada, 400, "path"},
			{"read too large", "/api/files/read" + q + "&path=big.txt", ada, 413, ""},
			{"list a file", "/api/files/list" + q + "&path=README.md", ada, 400, "path"},
			{"list missing", "/api/files/list" + q + "&path=nope", ada, 404, ""},
			{"find no query", "/api/files/find" + q, ada, 400, "query"},
			{"search no query", "/api/files/search" + q, ada, 400, "query"},
			{"search limit", "/api/files/search" + q + "&query=x&limit=0", ada, 400, "limit"},
			{"find limit", "/api/files/find" + q + "&query=x&limit=100000", ada, 400, "limit"},
			{"no session", "/api/files/list", ada, 400, "sessionId"},
			{"bob list", "/api/files/list" + q, bob, 404, ""},
			{"bob read", "/api/files/read" + q + "&path=README.md", bob, 404, ""},
			{"bob find", "/api/files/find" + q + "&query=main", bob, 404, ""},
			{"bob search", "/api/files/search" + q + "&query=main", bob, 404, ""},
			{"no token", "/api/files/list" + q, "", 401, ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := e.call("GET", c.path, c.token, nil)
				expect(t, r, c.status, "")
				if c.field != "" {
					if d, _ := r.Body["details"].(map[string]any); d["field"] != c.field {
						t.Fatalf("details.field %v, want %s: %s", d["field"], c.field, r.Raw)
					}
				}
				if strings.Contains(string(r.Raw), "top secret") {
					t.Fatal("leaked a file outside the workspace")
				}
			})
		}

		// A session whose workspace is gone (archived) is a 404.
		gone := e.newSession(ada)
		expect(t, e.call("GET", "/api/files/list?sessionId="+gone, ada, nil), 404, "")
	})
}

// With external runners the workspace is not on this server: 409.
func TestWorkspaceFilesExternal(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newFilesEnv(t, st, filesOpts{external: true})
		ada := e.register("ada@example.com", pw)
		q := "?sessionId=" + e.newSession(ada)
		for _, p := range []string{"/api/files/list" + q, "/api/files/read" + q + "&path=a", "/api/files/find" + q + "&query=a", "/api/files/search" + q + "&query=a"} {
			r := e.call("GET", p, ada, nil)
			expect(t, r, 409, "NO_LOCAL_WORKSPACE")
		}
		// The owner check still comes first.
		bob := e.register("bob@example.com", pw)
		expect(t, e.call("GET", "/api/files/list"+q, bob, nil), 404, "")
	})
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

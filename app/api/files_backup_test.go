package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/artifacts"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/blob"
	"github.com/agentops/agentops/store/storetest"
)

func TestArtifacts(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		t.Run("fs", func(t *testing.T) { testArtifacts(t, newFilesEnv(t, st, filesOpts{maxUpload: 64 << 10})) })
	})
	// The same routes over the S3 driver (SQLite is enough: the database
	// only answers who owns the session).
	t.Run("s3", func(t *testing.T) {
		st := storetest.Open(t, store.SQLite)
		testArtifacts(t, newFilesEnv(t, st, filesOpts{maxUpload: 64 << 10, blob: mustS3Blob(t)}))
	})
}

func testArtifacts(t *testing.T, e *filesEnv) {
	ada := e.register("ada@example.com", pw)
	sid := e.newSession(ada)
	q := "?sessionId=" + sid

	// POST: upstream's text backup, named <unix ms>_<base name>.
	r := e.call("POST", "/api/files/backup", ada, map[string]any{"sessionId": sid, "path": "/workspace/src/notes.md", "content": "hello"})
	expect(t, r, 200, "")
	wantKey := fmt.Sprintf("%d_notes.md", e.clock.Now().UnixMilli())
	if r.str("key") != wantKey || r.Body["success"] != true {
		t.Fatalf("backup: %s (want key %s)", r.Raw, wantKey)
	}

	// GET streams it with validators.
	r = e.raw("GET", "/api/files/backup/"+wantKey+q, ada, nil)
	expect(t, r, 200, "")
	etag := r.Header.Get("ETag")
	if string(r.Raw) != "hello" || len(etag) < 3 || etag[0] != '"' || r.Header.Get("Last-Modified") == "" ||
		r.Header.Get("Accept-Ranges") != "bytes" || r.Header.Get("Content-Length") != "5" ||
		r.Header.Get("Content-Type") != "application/octet-stream" ||
		r.Header.Get("Content-Disposition") != `attachment; filename=`+wantKey {
		t.Fatalf("download: %q headers %v", r.Raw, r.Header)
	}
	lastMod := r.Header.Get("Last-Modified")

	// HEAD: the headers, no body.
	r = e.raw("HEAD", "/api/files/backup/"+wantKey+q, ada, nil)
	if r.Status != 200 || len(r.Raw) != 0 || r.Header.Get("Content-Length") != "5" || r.Header.Get("ETag") != etag {
		t.Fatalf("head: %d %q %v", r.Status, r.Raw, r.Header)
	}

	// Conditional GETs.
	for _, c := range []struct {
		hdr    []string
		status int
	}{
		{[]string{"If-None-Match", etag}, 304},
		{[]string{"If-None-Match", `"other", ` + etag}, 304},
		{[]string{"If-None-Match", "W/" + etag}, 304},
		{[]string{"If-None-Match", "*"}, 304},
		{[]string{"If-None-Match", `"other"`}, 200},
		{[]string{"If-Modified-Since", lastMod}, 304},
		{[]string{"If-Modified-Since", time.Now().Add(-48 * time.Hour).UTC().Format(http.TimeFormat)}, 200},
		{[]string{"If-None-Match", `"other"`, "If-Modified-Since", lastMod}, 200}, // If-None-Match decides
	} {
		r := e.raw("GET", "/api/files/backup/"+wantKey+q, ada, nil, c.hdr...)
		if r.Status != c.status || (c.status == 304 && len(r.Raw) != 0) {
			t.Errorf("%v: %d %q, want %d", c.hdr, r.Status, r.Raw, c.status)
		}
	}

	// PUT: raw bytes, streamed, with a content type; nested keys.
	bin := make([]byte, 40<<10)
	for i := range bin {
		bin[i] = byte(i * 31)
	}
	r = e.raw("PUT", "/api/files/backup/reports/q1.bin"+q, ada, bytes.NewReader(bin), "Content-Type", "image/png")
	expect(t, r, 200, "")
	if r.str("key") != "reports/q1.bin" || r.Body["size"] != float64(len(bin)) || r.str("etag") == "" || r.Body["success"] != true {
		t.Fatalf("put: %s", r.Raw)
	}
	r = e.raw("GET", "/api/files/backup/reports/q1.bin"+q, ada, nil)
	if r.Status != 200 || !bytes.Equal(r.Raw, bin) || r.Header.Get("Content-Type") != "image/png" ||
		r.Header.Get("Content-Disposition") != "attachment; filename=q1.bin" {
		t.Fatalf("get put object: %d %d bytes %v", r.Status, len(r.Raw), r.Header)
	}
	// A body of unknown length (chunked) replaces it; the ETag changes.
	oldTag := r.Header.Get("ETag")
	r = e.raw("PUT", "/api/files/backup/reports/q1.bin"+q, ada, struct{ io.Reader }{strings.NewReader("v2")})
	expect(t, r, 200, "")
	r = e.raw("GET", "/api/files/backup/reports/q1.bin"+q, ada, nil)
	if string(r.Raw) != "v2" || r.Header.Get("ETag") == oldTag || r.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("after replace: %q %v", r.Raw, r.Header)
	}
	expect(t, e.raw("PUT", "/api/files/backup/reports/q1.bin"+q, ada, bytes.NewReader(bin)), 200, "")

	testRanges(t, e, ada, q, "reports/q1.bin", bin)

	// List: keys relative to the session's artifacts, in key order.
	r = e.call("GET", "/api/files/backup"+q, ada, nil)
	expect(t, r, 200, "")
	files := r.Body["files"].([]any)
	if len(files) != 2 || r.Body["cursor"] != nil {
		t.Fatalf("list: %s", r.Raw)
	}
	f0, f1 := files[0].(map[string]any), files[1].(map[string]any)
	if f0["key"] != wantKey || f0["size"] != float64(5) || f1["key"] != "reports/q1.bin" || f1["size"] != float64(len(bin)) {
		t.Fatalf("list: %s", r.Raw)
	}
	if up, err := time.Parse("2006-01-02T15:04:05.000Z", f0["uploaded"].(string)); err != nil || time.Since(up) > time.Hour {
		t.Fatalf("uploaded %v: %v", f0["uploaded"], err)
	}
	r = e.call("GET", "/api/files/backup"+q+"&prefix=reports/", ada, nil)
	if fs := r.Body["files"].([]any); len(fs) != 1 || fs[0].(map[string]any)["key"] != "reports/q1.bin" {
		t.Fatalf("prefix list: %s", r.Raw)
	}
	// Pages follow the cursor.
	for i := range 5 {
		expect(t, e.raw("PUT", fmt.Sprintf("/api/files/backup/page/%d.txt%s", i, q), ada, strings.NewReader("x")), 200, "")
	}
	var paged []string
	cursor := ""
	for pages := 0; ; pages++ {
		r := e.call("GET", "/api/files/backup"+q+"&prefix=page/&limit=2&cursor="+url.QueryEscape(cursor), ada, nil)
		expect(t, r, 200, "")
		for _, f := range r.Body["files"].([]any) {
			paged = append(paged, f.(map[string]any)["key"].(string))
		}
		c, _ := r.Body["cursor"].(string)
		if c == "" || pages > 5 {
			break
		}
		cursor = c
	}
	if !slices.Equal(paged, []string{"page/0.txt", "page/1.txt", "page/2.txt", "page/3.txt", "page/4.txt"}) {
		t.Fatalf("paged: %q", paged)
	}

	// Artifacts belong to their session.
	other := e.newSession(ada)
	if r := e.call("GET", "/api/files/backup?sessionId="+other, ada, nil); len(r.Body["files"].([]any)) != 0 {
		t.Fatalf("another session sees them: %s", r.Raw)
	}
	expect(t, e.raw("GET", "/api/files/backup/"+wantKey+"?sessionId="+other, ada, nil), 404, "")

	// DELETE.
	r = e.raw("DELETE", "/api/files/backup/page/0.txt"+q, ada, nil)
	expect(t, r, 200, "")
	expect(t, e.raw("GET", "/api/files/backup/page/0.txt"+q, ada, nil), 404, "")
	expect(t, e.raw("DELETE", "/api/files/backup/page/0.txt"+q, ada, nil), 404, "")

	testArtifactsBadInput(t, e, ada, sid, wantKey, bin)
}

func testRanges(t *testing.T, e *filesEnv, tok, q, key string, content []byte) {
	t.Helper()
	size := len(content)
	full := e.raw("GET", "/api/files/backup/"+key+q, tok, nil)
	etag, mod := full.Header.Get("ETag"), full.Header.Get("Last-Modified")
	cases := []struct {
		hdr         []string
		status      int
		first, last int // inclusive, for 206
	}{
		{[]string{"Range", "bytes=0-0"}, 206, 0, 0},
		{[]string{"Range", "bytes=10-19"}, 206, 10, 19},
		{[]string{"Range", "bytes=100-"}, 206, 100, size - 1},
		{[]string{"Range", "bytes=-7"}, 206, size - 7, size - 1},
		{[]string{"Range", fmt.Sprintf("bytes=-%d", size+100)}, 206, 0, size - 1},
		{[]string{"Range", fmt.Sprintf("bytes=%d-%d", size-3, size+1000)}, 206, size - 3, size - 1},
		{[]string{"Range", " bytes = 5-6 "}, 206, 5, 6},
		{[]string{"Range", "bytes=5-6", "If-Range", etag}, 206, 5, 6},
		{[]string{"Range", "bytes=5-6", "If-Range", mod}, 206, 5, 6},
		// Ignored (RFC 9110 §14.2): another unit, several ranges, an If-Range that does not match.
		{[]string{"Range", "items=0-1"}, 200, 0, 0},
		{[]string{"Range", "bytes=0-1,5-6"}, 200, 0, 0},
		{[]string{"Range", "bytes=5-6", "If-Range", `"stale"`}, 200, 0, 0},
		{[]string{"Range", "bytes=5-6", "If-Range", "W/" + etag}, 200, 0, 0},
		{[]string{"Range", "bytes=5-6", "If-Range", "Mon, 02 Jan 2006 15:04:05 GMT"}, 200, 0, 0},
		// Rejected: malformed or past the end.
		{[]string{"Range", fmt.Sprintf("bytes=%d-", size)}, 416, 0, 0},
		{[]string{"Range", fmt.Sprintf("bytes=%d-%d", size+5, size+10)}, 416, 0, 0},
		{[]string{"Range", "bytes=abc"}, 416, 0, 0},
		{[]string{"Range", "bytes=3-1"}, 416, 0, 0},
		{[]string{"Range", "bytes=-0"}, 416, 0, 0},
		{[]string{"Range", "bytes=-"}, 416, 0, 0},
		{[]string{"Range", "bytes=1-2-3"}, 416, 0, 0},
		{[]string{"Range", "bytes=+1-2"}, 416, 0, 0},
		{[]string{"Range", "bytes=99999999999999999999-"}, 416, 0, 0},
		{[]string{"Range", "bytes"}, 416, 0, 0},
	}
	for _, c := range cases {
		r := e.raw("GET", "/api/files/backup/"+key+q, tok, nil, c.hdr...)
		switch c.status {
		case 206:
			want := content[c.first : c.last+1]
			cr := fmt.Sprintf("bytes %d-%d/%d", c.first, c.last, size)
			if r.Status != 206 || !bytes.Equal(r.Raw, want) || r.Header.Get("Content-Range") != cr ||
				r.Header.Get("Content-Length") != fmt.Sprint(len(want)) || r.Header.Get("ETag") != etag {
				t.Errorf("%q: %d, %d bytes, Content-Range %q (want 206, %d bytes, %q)", c.hdr, r.Status, len(r.Raw), r.Header.Get("Content-Range"), len(want), cr)
			}
		case 200:
			if r.Status != 200 || !bytes.Equal(r.Raw, content) || r.Header.Get("Content-Range") != "" {
				t.Errorf("%q: %d, %d bytes (want the whole file)", c.hdr, r.Status, len(r.Raw))
			}
		case 416:
			if r.Status != 416 || r.Header.Get("Content-Range") != fmt.Sprintf("bytes */%d", size) || r.str("code") != "RANGE_NOT_SATISFIABLE" || r.str("error") == "" {
				t.Errorf("%q: %d %s Content-Range %q (want 416 with the error body)", c.hdr, r.Status, r.Raw, r.Header.Get("Content-Range"))
			}
		}
	}
	// An empty file has no ranges: it is served whole.
	expect(t, e.raw("PUT", "/api/files/backup/empty"+q, tok, strings.NewReader("")), 200, "")
	if r := e.raw("GET", "/api/files/backup/empty"+q, tok, nil, "Range", "bytes=0-0"); r.Status != 200 || len(r.Raw) != 0 {
		t.Errorf("range of an empty file: %d %q", r.Status, r.Raw)
	}
	expect(t, e.raw("DELETE", "/api/files/backup/empty"+q, tok, nil), 200, "")
}

// Bad input gets a clear 4xx and changes nothing.
func testArtifactsBadInput(t *testing.T, e *filesEnv, ada, sid, key string, bin []byte) {
	q := "?sessionId=" + sid
	before := e.call("GET", "/api/files/backup"+q+"&limit=1000", ada, nil)
	bob := e.register("bob@example.com", pw)
	bobSession := e.newSession(bob)

	cases := []struct {
		name, method, path string
		token              string
		body               any
		status             int
		field              string
	}{
		// No session, or not the caller's (404, as upstream: no hint that it exists).
		{"post without session", "POST", "/api/files/backup", ada, map[string]any{"path": "a", "content": "x"}, 400, "sessionId"},
		{"list without session", "GET", "/api/files/backup", ada, nil, 400, "sessionId"},
		{"get without session", "GET", "/api/files/backup/" + key, ada, nil, 400, "sessionId"},
		{"put without session", "PUT", "/api/files/backup/x", ada, "x", 400, "sessionId"},
		{"delete without session", "DELETE", "/api/files/backup/" + key, ada, nil, 400, "sessionId"},
		{"other user's list", "GET", "/api/files/backup" + q, bob, nil, 404, ""},
		{"other user's file", "GET", "/api/files/backup/" + key + q, bob, nil, 404, ""},
		{"other user's head", "HEAD", "/api/files/backup/" + key + q, bob, nil, 404, ""},
		{"other user's put", "PUT", "/api/files/backup/" + key + q, bob, "overwrite", 404, ""},
		{"other user's post", "POST", "/api/files/backup", bob, map[string]any{"sessionId": sid, "path": "a", "content": "x"}, 404, ""},
		{"other user's delete", "DELETE", "/api/files/backup/" + key + q, bob, nil, 404, ""},
		{"unknown session", "GET", "/api/files/backup?sessionId=7b5f1f43-2b8a-4a5e-9d55-1f6f2b1d0c11", ada, nil, 404, ""},
		{"malformed session id", "GET", "/api/files/backup?sessionId=../x", ada, nil, 404, ""},
		{"own session via another's", "GET", "/api/files/backup/" + key + "?sessionId=" + bobSession, ada, nil, 404, ""},
		{"no token", "GET", "/api/files/backup" + q, "", nil, 401, ""},
		// Traversal and other bad keys (encoded so that they reach the handler).
		{"dotdot key", "GET", "/api/files/backup/..%2F..%2Fetc%2Fpasswd" + q, ada, nil, 400, "key"},
		{"dotdot in key", "PUT", "/api/files/backup/a%2F..%2F..%2Fx" + q, ada, "x", 400, "key"},
		{"dotdot key delete", "DELETE", "/api/files/backup/%2E%2E/x" + q, ada, nil, 400, "key"},
		{"absolute key", "GET", "/api/files/backup/%2Fetc%2Fpasswd" + q, ada, nil, 400, "key"},
		{"absolute key put", "PUT", "/api/files/backup/%2Ftmp%2Fx" + q, ada, "x", 400, "key"},
		{"backslash key", "PUT", "/api/files/backup/..%5C..%5Cx" + q, ada, "x", 400, "key"},
		{"NUL in key", "PUT", "/api/files/backup/a%00b" + q, ada, "x", 400, "key"},
		{"reserved key", "PUT", "/api/files/backup/.agentops-meta.x" + q, ada, "x", 400, "key"},
		{"empty key", "GET", "/api/files/backup/" + q, ada, nil, 400, "key"},
		{"trailing slash key", "PUT", "/api/files/backup/dir/" + q, ada, "x", 400, "key"},
		{"traversal prefix", "GET", "/api/files/backup" + q + "&prefix=../", ada, nil, 400, "prefix"},
		{"absolute prefix", "GET", "/api/files/backup" + q + "&prefix=/etc", ada, nil, 400, "prefix"},
		{"bad cursor", "GET", "/api/files/backup" + q + "&cursor=!!", ada, nil, 400, "cursor"},
		{"forged cursor", "GET", "/api/files/backup" + q + "&cursor=Li4vLi4veA", ada, nil, 400, "cursor"},
		{"limit zero", "GET", "/api/files/backup" + q + "&limit=0", ada, nil, 400, "limit"},
		{"limit huge", "GET", "/api/files/backup" + q + "&limit=5000", ada, nil, 400, "limit"},
		// POST bodies.
		{"post traversal path", "POST", "/api/files/backup", ada, map[string]any{"sessionId": sid, "path": "../../etc/passwd", "content": "x"}, 400, "path"},
		{"post inner traversal", "POST", "/api/files/backup", ada, map[string]any{"sessionId": sid, "path": "a/../../b", "content": "x"}, 400, "path"},
		{"post control chars", "POST", "/api/files/backup", ada, map[string]any{"sessionId": sid, "path": "a\nb", "content": "x"}, 400, "path"},
		{"post reserved name", "POST", "/api/files/backup", ada, map[string]any{"sessionId": sid, "path": "x/a\\b", "content": "x"}, 400, "path"},
		{"post missing path", "POST", "/api/files/backup", ada, map[string]any{"sessionId": sid, "content": "x"}, 400, "path"},
		{"post empty content", "POST", "/api/files/backup", ada, map[string]any{"sessionId": sid, "path": "a", "content": ""}, 400, "content"},
		{"post content type", "POST", "/api/files/backup", ada, `{"sessionId":"` + sid + `","path":"a","content":42}`, 400, "content"},
		{"post malformed", "POST", "/api/files/backup", ada, `{"sessionId":`, 400, ""},
		{"post oversized", "POST", "/api/files/backup", ada, map[string]any{"sessionId": sid, "path": "big", "content": strings.Repeat("x", 65<<10)}, 413, ""},
		{"bad content type", "PUT", "/api/files/backup/ct" + q, ada, "x", 400, "Content-Type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var hdr []string
			if c.name == "bad content type" {
				hdr = []string{"Content-Type", "not a / type;;"}
			}
			var r resp
			switch b := c.body.(type) {
			case string:
				if c.method == "POST" {
					hdr = []string{"Content-Type", "application/json"}
				}
				r = e.raw(c.method, c.path, c.token, strings.NewReader(b), hdr...)
			default:
				r = e.call(c.method, c.path, c.token, c.body, hdr...)
			}
			if c.method == "HEAD" {
				if r.Status != c.status {
					t.Fatalf("status %d, want %d", r.Status, c.status)
				}
				return
			}
			expect(t, r, c.status, "")
			if c.field != "" {
				if d, _ := r.Body["details"].(map[string]any); d["field"] != c.field {
					t.Fatalf("details.field %v, want %s: %s", d["field"], c.field, r.Raw)
				}
			}
		})
	}

	// Oversized uploads: refused by Content-Length before reading, or
	// while streaming a body of unknown length; the old file stays.
	big := bytes.Repeat([]byte("z"), 65<<10)
	r := e.raw("PUT", "/api/files/backup/reports/q1.bin"+q, ada, bytes.NewReader(big))
	expect(t, r, 413, "PAYLOAD_TOO_LARGE")
	if d, _ := r.Body["details"].(map[string]any); d["limit"] != float64(64<<10) {
		t.Fatalf("413 details: %s", r.Raw)
	}
	r = e.raw("PUT", "/api/files/backup/reports/q1.bin"+q, ada, struct{ io.Reader }{io.MultiReader(bytes.NewReader(big), bytes.NewReader(big))})
	expect(t, r, 413, "PAYLOAD_TOO_LARGE")
	r = e.raw("PUT", "/api/files/backup/brand-new"+q, ada, struct{ io.Reader }{bytes.NewReader(big)})
	expect(t, r, 413, "PAYLOAD_TOO_LARGE")
	if r := e.raw("GET", "/api/files/backup/reports/q1.bin"+q, ada, nil); !bytes.Equal(r.Raw, bin) {
		t.Fatalf("a refused upload changed the file (%d bytes)", len(r.Raw))
	}
	// Exactly the limit is fine.
	expect(t, e.raw("PUT", "/api/files/backup/at-limit"+q, ada, bytes.NewReader(big[:64<<10])), 200, "")
	expect(t, e.raw("DELETE", "/api/files/backup/at-limit"+q, ada, nil), 200, "")

	// Nothing changed.
	after := e.call("GET", "/api/files/backup"+q+"&limit=1000", ada, nil)
	if !bytes.Equal(before.Raw, after.Raw) {
		t.Fatalf("bad input changed the artifacts:\n%s\n%s", before.Raw, after.Raw)
	}
	if r := e.call("GET", "/api/files/backup?sessionId="+bobSession, bob, nil); len(r.Body["files"].([]any)) != 0 {
		t.Fatalf("bob's session got files: %s", r.Raw)
	}
	// And no object anywhere outside the two sessions' folders.
	page, err := e.blob.List(e.t.Context(), "", "", blob.MaxListLimit)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range page.Items {
		if !strings.HasPrefix(it.Key, "backups/") || !strings.Contains(it.Key, "/sessions/"+sid+"/artifacts/") {
			t.Fatalf("stray object %q", it.Key)
		}
	}
}

// Deleting a session removes its artifacts; deleting a user removes all of
// theirs; the sweep removes what a crash left behind; nobody else's go.
func TestArtifactsRemovedWithSessionOrUser(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newFilesEnv(t, st, filesOpts{})
		ctx := context.Background()
		admin := e.register("admin@example.com", pw)
		bob := e.register("bob@example.com", pw)
		put := func(tok, sid, key string) {
			t.Helper()
			expect(t, e.raw("PUT", "/api/files/backup/"+key+"?sessionId="+sid, tok, strings.NewReader("x")), 200, "")
		}
		count := func(prefix string) int {
			t.Helper()
			p, err := e.blob.List(ctx, prefix, "", blob.MaxListLimit)
			if err != nil {
				t.Fatal(err)
			}
			return len(p.Items)
		}
		adminID, bobID := e.userOf(admin)["id"].(string), e.userOf(bob)["id"].(string)
		gone, kept := e.newSession(admin), e.newSession(admin)
		put(admin, gone, "a.txt")
		put(admin, gone, "dir/b.txt")
		put(admin, kept, "c.txt")
		bobs := e.newSession(bob)
		put(bob, bobs, "d.txt")

		expect(t, e.call("POST", "/api/sessions/bulk-delete", admin, map[string]any{"sessionIds": []string{gone}}), 200, "")
		if n := count("backups/" + adminID + "/sessions/" + gone + "/"); n != 0 {
			t.Fatalf("%d artifacts of a deleted session remain", n)
		}
		if count("backups/"+adminID+"/sessions/"+kept+"/") != 1 {
			t.Fatal("another session's artifact went too")
		}

		expect(t, e.call("DELETE", "/api/admin/users/"+bobID, admin, nil), 200, "")
		if n := count("backups/" + bobID + "/"); n != 0 {
			t.Fatalf("%d artifacts of a deleted user remain", n)
		}

		// Objects whose session or user went without them (a crash
		// between the two) are swept; live ones stay.
		for _, k := range []string{"backups/" + adminID + "/sessions/" + uuid.NewString() + "/artifacts/x",
			"backups/" + uuid.NewString() + "/sessions/s/artifacts/y"} {
			if _, err := e.blob.Put(ctx, k, strings.NewReader("z"), blob.PutOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		res, err := artifacts.NewRemover(e.blob).Sweep(ctx, st)
		if err != nil || res.Sessions != 1 || res.Users != 1 || res.Objects != 2 {
			t.Fatalf("sweep: %+v %v", res, err)
		}
		if n := count("backups/"); n != 1 {
			t.Fatalf("after the sweep %d objects remain, want the live session's one", n)
		}
	})
}

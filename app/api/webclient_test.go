package api_test

import (
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/agentops/agentops/app/api"
	"github.com/agentops/agentops/web"
)

// The web client owns every GET that no route claims (deep links survive a
// reload), never a path under the API's prefixes; hashed assets are cached
// for good, index.html never, and both carry the CSP.
func TestWebClientServing(t *testing.T) {
	client := fstest.MapFS{
		"index.html":          {Data: []byte("<!doctype html><title>app</title>")},
		"assets/index-abc.js": {Data: []byte("console.log(1)")},
		"robots.txt":          {Data: []byte("User-agent: *")},
	}
	srv := httptest.NewServer(api.New(api.Deps{}, api.Options{Web: client}, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	get := func(method, path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	for _, p := range []string{"/", "/sessions/123", "/settings/keys", "/invite/abc", "/login?next=%2Fsessions"} {
		res, body := get("GET", p)
		if res.StatusCode != 200 || !strings.Contains(body, "<title>app</title>") {
			t.Errorf("GET %s: %d %q, want index.html", p, res.StatusCode, body)
		}
		if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q", p, cc)
		}
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("GET %s: CSP %q", p, csp)
		}
	}
	res, body := get("GET", "/assets/index-abc.js")
	if res.StatusCode != 200 || body != "console.log(1)" || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") ||
		!strings.Contains(res.Header.Get("Content-Type"), "javascript") {
		t.Errorf("asset: %d %q %v", res.StatusCode, body, res.Header)
	}
	if res, _ := get("GET", "/assets/gone-123.js"); res.StatusCode != 404 {
		t.Errorf("missing asset: %d, want 404 (never index.html as script)", res.StatusCode)
	}
	if res, body := get("GET", "/robots.txt"); res.StatusCode != 200 || body != "User-agent: *" || res.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("robots.txt: %d %q", res.StatusCode, body)
	}
	for _, p := range []string{"/api/nope", "/auth/nope", "/webhooks/", "/invites/", "/metrics", "/metrics/x", "/api"} {
		res, body := get("GET", p)
		if res.StatusCode != 404 || !strings.Contains(res.Header.Get("Content-Type"), "application/json") || !strings.Contains(body, `"code":"NOT_FOUND"`) {
			t.Errorf("GET %s: %d %s %q, want the JSON 404", p, res.StatusCode, res.Header.Get("Content-Type"), body)
		}
	}
	if res, _ := get("POST", "/sessions/123"); res.StatusCode != 404 || !strings.Contains(res.Header.Get("Content-Type"), "json") {
		t.Errorf("POST outside the API: %d, want the JSON 404", res.StatusCode)
	}
}

// The committed build is what the binary embeds: an index.html that loads
// only files that exist, from this origin.
func TestEmbeddedClientIsComplete(t *testing.T) {
	dist := web.Dist()
	index, err := fsRead(dist, "index.html")
	if err != nil {
		t.Fatalf("web/dist has no index.html (run make web): %v", err)
	}
	refs := 0
	for _, attr := range []string{`src="`, `href="`} {
		for rest := index; ; {
			i := strings.Index(rest, attr)
			if i < 0 {
				break
			}
			rest = rest[i+len(attr):]
			ref := rest[:strings.IndexByte(rest, '"')]
			if !strings.HasPrefix(ref, "/assets/") {
				continue
			}
			refs++
			if _, err := fsRead(dist, strings.TrimPrefix(ref, "/")); err != nil {
				t.Errorf("index.html loads %s, which is not embedded", ref)
			}
		}
	}
	if refs == 0 {
		t.Fatalf("index.html loads no assets: %s", index)
	}
	if strings.Contains(index, "<script>") {
		t.Error("index.html has an inline script, which the CSP blocks")
	}
}

func fsRead(fsys fs.FS, name string) (string, error) {
	b, err := fs.ReadFile(fsys, name)
	return string(b), err
}

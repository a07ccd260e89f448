package api

import (
	"bytes"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// webCSP lets the client run only its own scripts: no inline script, no
// eval, no other origin. Agent output is untrusted; this (with the
// client's sanitizer) is what keeps a transcript from reaching the login
// token in localStorage. Inline style attributes stay allowed for layout
// set from script (CSSOM), never for markup from a transcript, which the
// sanitizer strips.
const webCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; " +
	"form-action 'self'; manifest-src 'self'"

// webClient answers GETs that no API route claims: a file of the built
// client when one has that path, otherwise index.html, so that deep links
// (/sessions/<id>) work on reload and the client's router takes over.
func (s *Server) webClient(w http.ResponseWriter, r *http.Request) {
	if s.opts.Web == nil {
		s.noWebClient(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", webCSP)
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	if name != "" && name != "index.html" {
		if b, err := fs.ReadFile(s.opts.Web, name); err == nil {
			if strings.HasPrefix(name, "assets/") {
				// Vite names these by content hash: a new build is a new URL.
				h.Set("Cache-Control", "public, max-age=31536000, immutable")
			} else {
				h.Set("Cache-Control", "no-cache")
			}
			http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
			return
		}
		if strings.HasPrefix(name, "assets/") {
			// A missing hashed file (an old tab after an upgrade) must not
			// get index.html as JavaScript.
			h.Set("Cache-Control", "no-store")
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
	}
	b, err := fs.ReadFile(s.opts.Web, "index.html")
	if err != nil {
		s.noWebClient(w, r)
		return
	}
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Type", "text/html; charset=utf-8")
	http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(b))
}

// noWebClient is the root page of a build without the client.
func (s *Server) noWebClient(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if r.URL.Path != "/" {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<!doctype html><title>Not found</title><p>Not found. <a href=\"/\">agentops</a></p>\n"))
		return
	}
	_, _ = w.Write([]byte(`<!doctype html><meta charset="utf-8"><title>agentops</title>
<h1>agentops</h1>
<p>The API server is running (version ` + htmlEscape(s.opts.Version) + `). The web client is not part of this build.</p>
<p>Health: <a href="/health">/health</a>, readiness: <a href="/ready">/ready</a>. First run: <code>GET /auth/setup</code>, then
<code>POST /auth/email/register</code> creates the first (admin) account.</p>
`))
}

func htmlEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	return r.Replace(s)
}

// Package api holds the HTTP handlers, middleware and error rendering.
// Handlers are thin: decode, authorize, call the domain, encode.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/auth"
	"github.com/agentops/agentops/app/events"
	"github.com/agentops/agentops/app/session"
)

// Deps are the domain services the handlers call.
type Deps struct {
	Auth     *auth.Service
	Sessions *session.Manager
	Events   *events.Bus
}

// Options configure the HTTP layer.
type Options struct {
	AllowedOrigins []string
	// PublicURL is where clients reach the server (for websocket URLs).
	PublicURL string
	Version   string
	// Ready reports whether the server can take traffic (the database
	// answers); /ready calls it.
	Ready func(ctx context.Context) error
}

// Server routes requests to the handlers.
type Server struct {
	auth     *auth.Service
	sessions *session.Manager
	events   *events.Bus
	opts     Options
	log      *slog.Logger
	mux      *http.ServeMux
}

// New builds the HTTP handler with its middleware.
func New(deps Deps, opts Options, log *slog.Logger) http.Handler {
	s := &Server{auth: deps.Auth, sessions: deps.Sessions, events: deps.Events, opts: opts, log: log, mux: http.NewServeMux()}
	s.routes()
	var h http.Handler = http.HandlerFunc(s.dispatch)
	h = withCORS(opts.AllowedOrigins, h)
	h = withSecurityHeaders(h)
	h = withAccessLog(log, h)
	h = withRecover(log, h)
	h = withRequestID(h)
	return h
}

func (s *Server) routes() {
	m := s.mux
	bindHealth(s, m)
	bindAuthPublic(s, m)
	bindAuthMe(s, m)
	bindAPIKeys(s, m)
	bindInvites(s, m)
	bindAdminUsers(s, m)
	bindAdminInvites(s, m)
	if s.sessions != nil {
		bindSessions(s, m)
	}
	if s.events != nil {
		bindEvents(s, m)
	}
}

var otherMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// dispatch serves matched routes, and answers what no route claims: a
// method that a path does not take is 405 with Allow; unknown API paths,
// and non-GET requests anywhere, get the JSON 404; other GETs belong to
// the web client.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern != "" {
		s.mux.ServeHTTP(w, r) // sets the path values; Handler does not
		return
	}
	var allow []string
	for _, m := range otherMethods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "" && !strings.HasSuffix(p, " /") {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{
			"error": r.Method + " is not allowed here; use " + strings.Join(allow, ", "), "code": "METHOD_NOT_ALLOWED",
		})
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead || isAPIPath(r.URL.Path) {
		writeError(w, r, apperr.NotFound("Route "+r.Method+" "+r.URL.Path))
		return
	}
	s.webClient(w, r)
}

func isAPIPath(p string) bool {
	for _, prefix := range []string{"/api/", "/auth/", "/webhooks/", "/invites/"} {
		if strings.HasPrefix(p, prefix) || p+"/" == prefix {
			return true
		}
	}
	return false
}

// webClient answers GETs outside the API. The browser client is not built
// into the binary yet; until it is, the root says how to use the API.
func (s *Server) webClient(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if r.URL.Path != "/" {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<!doctype html><title>Not found</title><p>Not found. <a href=\"/\">agentops</a></p>\n"))
		return
	}
	_, _ = w.Write([]byte(`<!doctype html><meta charset="utf-8"><title>agentops</title>
<h1>agentops</h1>
<p>The API server is running (version ` + htmlEscape(s.opts.Version) + `). The web client is not part of this build yet.</p>
<p>Health: <a href="/health">/health</a>, readiness: <a href="/ready">/ready</a>. First run: <code>GET /auth/setup</code>, then
<code>POST /auth/email/register</code> creates the first (admin) account.</p>
`))
}

func htmlEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	return r.Replace(s)
}

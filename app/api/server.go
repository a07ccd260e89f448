// Package api holds the HTTP handlers, middleware and error rendering.
// Handlers are thin: decode, authorize, call the domain, encode.
package api

import (
	"context"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/artifacts"
	"github.com/agentops/agentops/app/auth"
	"github.com/agentops/agentops/app/credentials"
	"github.com/agentops/agentops/app/dashboard"
	"github.com/agentops/agentops/app/events"
	"github.com/agentops/agentops/app/memory"
	"github.com/agentops/agentops/app/metrics"
	"github.com/agentops/agentops/app/notify"
	"github.com/agentops/agentops/app/persona"
	"github.com/agentops/agentops/app/repos"
	"github.com/agentops/agentops/app/session"
	"github.com/agentops/agentops/app/workflow"
	"github.com/agentops/agentops/app/workspace"
)

// Deps are the domain services the handlers call.
type Deps struct {
	Auth     *auth.Service
	Sessions *session.Manager

	// Artifacts and Workspace serve /api/files/*; nil leaves them out.
	Artifacts *artifacts.Service
	Workspace *workspace.Service

	// Credentials serves /api/auth/me/credentials and /api/admin/llm-keys.
	Credentials *credentials.Service
	// Notify serves /api/me/notifications.
	Notify *notify.Service
	// Dashboard serves /api/dashboard/stats.
	Dashboard *dashboard.Service
	Memory    *memory.Service
	Personas  *persona.Service

	// Workflows serves /api/workflows, /api/triggers, /api/executions and
	// /webhooks/*; nil leaves them out.
	Workflows *workflow.Service
	// Events serves /api/events and /api/events/ws.
	Events *events.Bus
	// Repos serves /api/repos*; nil leaves them out.
	Repos *repos.Service
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
	// Draining, when set and true, makes /ready say not ready: the
	// replica is handing its sessions over before it stops.
	Draining func() bool
	// Metrics records requests and sockets, and /metrics serves it to
	// scrapers that present MetricsToken; with no token /metrics is a 404.
	Metrics      *metrics.Metrics
	MetricsToken string
	// TrustedProxies are believed about X-Forwarded-For (nil: none).
	TrustedProxies *Proxies
	// Body bounds how long request bodies may take (zero: defaults).
	Body BodyTiming
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Web is the built browser client (index.html and assets/); nil
	// serves a short page that says how to use the API.
	Web fs.FS
}

// Server routes requests to the handlers.
type Server struct {
	auth     *auth.Service
	sessions *session.Manager
	memory   *memory.Service
	personas *persona.Service
	events   *events.Bus
	opts     Options
	log      *slog.Logger
	mux      *http.ServeMux

	// storage remembers writes that found the storage full.
	storage *storageWatch

	// artifacts and workspace serve /api/files/*.
	artifacts *artifacts.Service
	workspace *workspace.Service

	workflows   *workflow.Service
	credentials *credentials.Service
	notify      *notify.Service
	dashboard   *dashboard.Service
	repos       *repos.Service
}

// New builds the HTTP handler with its middleware.
func New(deps Deps, opts Options, log *slog.Logger) http.Handler {
	s := &Server{auth: deps.Auth, sessions: deps.Sessions, memory: deps.Memory, personas: deps.Personas, events: deps.Events,
		opts: opts, log: log, mux: http.NewServeMux()}
	s.artifacts, s.workspace = deps.Artifacts, deps.Workspace
	s.workflows = deps.Workflows
	s.credentials, s.notify, s.dashboard = deps.Credentials, deps.Notify, deps.Dashboard
	s.repos = deps.Repos
	if s.opts.Now == nil {
		s.opts.Now = time.Now
	}
	s.storage = &storageWatch{log: log, now: s.opts.Now}
	s.routes()
	var h http.Handler = withMetrics(opts.Metrics, http.HandlerFunc(s.dispatch))
	h = withBodyTiming(opts.Body, h)
	h = withStorageWatch(s.storage, h)
	h = withoutNUL(h)
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
	bindMetrics(s, m)
	bindAuthPublic(s, m)
	bindAuthMe(s, m)
	bindAPIKeys(s, m)
	bindInvites(s, m)
	bindAdminUsers(s, m)
	bindAdminInvites(s, m)
	if s.sessions != nil {
		bindSessions(s, m)
		bindActionInvocations(s, m)
	}
	if s.artifacts != nil {
		bindFilesBackup(s, m)
	}
	if s.workspace != nil {
		bindFilesWorkspace(s, m)
	}
	if s.credentials != nil {
		bindCredentials(s, m)
	}
	if s.notify != nil {
		bindNotifications(s, m)
	}
	if s.dashboard != nil {
		bindDashboard(s, m)
	}
	bindCompat(s, m)
	if s.memory != nil {
		bindMemory(s, m)
	}
	if s.personas != nil {
		bindPersonas(s, m)
	}
	if s.workflows != nil {
		bindWorkflows(s, m)
		bindTriggers(s, m)
		bindExecutions(s, m)
		bindWebhooks(s, m)
	}
	if s.events != nil {
		bindEvents(s, m)
	}
	if s.repos != nil {
		bindRepos(s, m)
	}
}

var otherMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// dispatch serves matched routes, and answers what no route claims: a
// method that a path does not take is 405 with Allow; unknown API paths,
// and non-GET requests anywhere, get the JSON 404; other GETs belong to
// the web client.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern != "" {
		if strings.ContainsRune(r.URL.Path, 0) {
			// No route takes a NUL character, and the databases cannot
			// store one: name the path parameter that holds it.
			writeError(w, r, apperr.Invalid(nulPathField(pattern, r.URL.Path), "The URL has a NUL character (%%00)"))
			return
		}
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
	for _, prefix := range []string{"/api/", "/auth/", "/webhooks/", "/invites/", "/metrics/"} {
		if strings.HasPrefix(p, prefix) || p+"/" == prefix {
			return true
		}
	}
	return false
}

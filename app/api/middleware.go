package api

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/agentops/agentops/app/apperr"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	principalKey
)

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// validRequestID accepts a client's X-Request-Id only if it is short and
// plain, so that it is safe to echo and to log.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// withRequestID reuses a valid incoming X-Request-Id or makes one, and
// echoes it on the response.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = uuid.NewString()
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

// statusWriter records the status and size for the access log. It keeps
// http.Hijacker and http.Flusher working for WebSockets and streams.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("hijack not supported")
	}
	if w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return h.Hijack()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// secretParams are query parameters that carry credentials; the access log
// never shows their values.
var secretParams = []string{"token", "ticket", "code", "key", "secret", "password", "invite_code", "invitecode"}

// secretPathPrefixes are routes whose next path segment is a credential
// (an invite code can grant admin); the access log shows it redacted.
var secretPathPrefixes = []string{"/invites/", "/api/invites/", "/invite/", "/login/link/"}

// redactPath hides the credential segment of the routes in
// secretPathPrefixes.
func redactPath(p string) string {
	for _, prefix := range secretPathPrefixes {
		if rest, ok := strings.CutPrefix(p, prefix); ok && rest != "" {
			_, tail, _ := strings.Cut(rest, "/")
			if tail != "" {
				return prefix + "REDACTED/" + tail
			}
			return prefix + "REDACTED"
		}
	}
	return p
}

// RedactQuery hides the values of credential-bearing query parameters and
// credential path segments.
func RedactQuery(u *url.URL) string {
	path := redactPath(u.Path)
	if u.RawQuery == "" {
		return path
	}
	q := u.Query()
	for k := range q {
		if slices.Contains(secretParams, strings.ToLower(k)) {
			q[k] = []string{"REDACTED"}
		}
	}
	return path + "?" + q.Encode()
}

// withoutNUL answers 400 for a query value (or name) holding a NUL
// character, naming the parameter: no route takes one, and the databases
// cannot store it. (A NUL in the path is refused by dispatch, which knows
// the route's parameter names.)
func withoutNUL(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, vs := range r.URL.Query() {
			if strings.ContainsRune(k, 0) || slices.ContainsFunc(vs, func(v string) bool { return strings.ContainsRune(v, 0) }) {
				writeError(w, r, apperr.Invalid(strings.ToValidUTF8(strings.ReplaceAll(k, "\x00", "\uFFFD"), "\uFFFD"),
					"The URL has a NUL character (%%00)"))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// nulPathField names the wildcard of a route pattern ("GET
// /api/files/backup/{key...}") that matches the path segment holding a NUL
// character; "" if no wildcard does.
func nulPathField(pattern, path string) string {
	if _, p, ok := strings.Cut(pattern, " "); ok {
		pattern = p
	}
	ps, segs := strings.Split(pattern, "/"), strings.Split(path, "/")
	wildcard := func(seg string) (string, bool) {
		if !strings.HasPrefix(seg, "{") || !strings.HasSuffix(seg, "}") {
			return "", false
		}
		return strings.TrimSuffix(seg[1:len(seg)-1], "..."), true
	}
	for i, seg := range segs {
		if !strings.ContainsRune(seg, 0) {
			continue
		}
		if i < len(ps) {
			if w, ok := wildcard(ps[i]); ok {
				return w
			}
		}
		// A trailing {name...} takes every segment from its own on.
		if last := ps[len(ps)-1]; strings.HasSuffix(last, "...}") && i >= len(ps)-1 {
			w, _ := wildcard(last)
			return w
		}
		return ""
	}
	return ""
}

// withAccessLog logs one line per request, with credentials redacted.
func withAccessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if r.URL.Path == "/health" || r.URL.Path == "/ready" {
			return
		}
		level := slog.LevelInfo
		if sw.status >= 500 {
			level = slog.LevelError
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", RedactQuery(r.URL)),
			slog.Int("status", sw.status),
			slog.Int64("bytes", sw.bytes),
			slog.Duration("duration", time.Since(start)),
			slog.String("request_id", requestIDFrom(r.Context())),
			slog.String("remote", r.RemoteAddr),
		}
		log.LogAttrs(r.Context(), level, "request", attrs...)
	})
}

// withRecover turns a panic into a 500 with the request id, and logs it.
func withRecover(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("panic in handler", "panic", v, "path", r.URL.Path, "request_id", requestIDFrom(r.Context()), "stack", string(debug.Stack()))
				writeJSON(w, http.StatusInternalServerError, map[string]any{
					"error": "Internal server error", "code": "INTERNAL_ERROR", "requestId": requestIDFrom(r.Context()),
				})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// withSecurityHeaders sets the headers every response should carry.
func withSecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "SAMEORIGIN")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// withCORS answers preflights and marks responses for the allowed origins.
// Credentials are bearer tokens, never cookies, but upstream's client sets
// credentials mode, so Allow-Credentials stays on for exact origins.
func withCORS(allowed []string, next http.Handler) http.Handler {
	any := slices.Contains(allowed, "*")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		ok := origin != "" && (any || slices.Contains(allowed, origin))
		if origin != "" {
			w.Header().Add("Vary", "Origin")
		}
		if ok {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if ok {
				h := w.Header()
				h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, X-Request-Id, Last-Event-ID")
				h.Set("Access-Control-Max-Age", "600")
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/agentops/agentops/app/api"
	"github.com/agentops/agentops/app/auth"
	"github.com/agentops/agentops/app/memory"
	"github.com/agentops/agentops/app/persona"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	t     *testing.T
	url   string
	st    *store.Store
	clock *clockwork.FakeClock
	logs  *syncBuffer
}

type envOpts struct {
	openSignup bool
	origins    []string
	// memoryMaxFiles caps memory files (0: the default).
	memoryMaxFiles int
	// trustedProxies are believed about X-Forwarded-For.
	trustedProxies []string
	// body bounds request body reads (zero: the defaults).
	body api.BodyTiming
}

func newEnv(t *testing.T, st *store.Store, o envOpts) *env {
	t.Helper()
	c := clockwork.NewFakeClockAt(time.Now().UTC())
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := auth.New(st, auth.Config{OpenSignup: o.openSignup, Now: c.Now}, log)
	if o.origins == nil {
		o.origins = []string{"http://app.example"}
	}
	mem := memory.New(st, memory.Config{MaxFiles: o.memoryMaxFiles})
	h := api.New(api.Deps{Auth: svc, Memory: mem, Personas: persona.New(st)}, api.Options{AllowedOrigins: o.origins, Version: "test", Ready: st.Ping, TrustedProxies: mustProxies(t, o.trustedProxies), Body: o.body, Now: c.Now}, log)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, url: srv.URL, st: st, clock: c, logs: logs}
}

// resp is a decoded response.
type resp struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

func (r resp) str(key string) string {
	s, _ := r.Body[key].(string)
	return s
}

// call sends a request; body may be a string (sent raw), nil, or a value
// to encode as JSON.
func (e *env) call(method, path, token string, body any, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") && len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			e.t.Fatalf("%s %s: bad JSON %q: %v", method, path, raw, err)
		}
	}
	return out
}

// expect fails unless the response has the status (and, for errors, the
// common error body with the given error word or code when not empty).
func expect(t *testing.T, r resp, status int, errWord string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Raw)
	}
	if status >= 400 {
		if r.str("error") == "" || r.str("code") == "" {
			t.Fatalf("error body must have error and code: %s", r.Raw)
		}
		if errWord != "" && r.str("error") != errWord && r.str("code") != errWord {
			t.Fatalf("error %q code %q, want %q; body %s", r.str("error"), r.str("code"), errWord, r.Raw)
		}
	}
}

func (e *env) register(email, password string, extra ...string) string {
	e.t.Helper()
	body := map[string]any{"email": email, "password": password}
	for i := 0; i+1 < len(extra); i += 2 {
		body[extra[i]] = extra[i+1]
	}
	r := e.call("POST", "/auth/email/register", "", body)
	expect(e.t, r, 200, "")
	tok := r.str("sessionToken")
	if len(tok) != 64 {
		e.t.Fatalf("session token %q is not 64 hex characters", tok)
	}
	return tok
}

func (e *env) login(email, password string) resp {
	e.t.Helper()
	return e.call("POST", "/auth/email/login", "", map[string]any{"email": email, "password": password})
}

func (e *env) me(token string) resp {
	e.t.Helper()
	return e.call("GET", "/api/auth/me", token, nil)
}

func (e *env) userOf(token string) map[string]any {
	e.t.Helper()
	r := e.me(token)
	expect(e.t, r, 200, "")
	u, _ := r.Body["user"].(map[string]any)
	return u
}

const pw = "correct horse battery"

func mustProxies(t *testing.T, list []string) *api.Proxies {
	t.Helper()
	p, err := api.ParseProxies(list)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

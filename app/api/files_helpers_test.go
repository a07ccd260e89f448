package api_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/jonboulle/clockwork"

	"github.com/agentops/agentops/app/api"
	"github.com/agentops/agentops/app/artifacts"
	"github.com/agentops/agentops/app/auth"
	"github.com/agentops/agentops/app/events"
	"github.com/agentops/agentops/app/sandbox"
	"github.com/agentops/agentops/app/session"
	"github.com/agentops/agentops/app/workspace"
	"github.com/agentops/agentops/realtime"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/blob"
	"github.com/agentops/agentops/store/blob/fsblob"
	"github.com/agentops/agentops/store/blob/s3blob"
)

// filesEnv is a server with the /api/files routes over a real session
// manager, a blob storage and local workspaces under wsRoot.
type filesEnv struct {
	*env
	blob   blob.Storage
	wsRoot string
}

type filesOpts struct {
	blob      blob.Storage // default: fsblob in a temp dir
	maxUpload int64
	limits    workspace.Limits
	external  bool // runners are external: no local workspaces
	body      api.BodyTiming
}

func newFilesEnv(t *testing.T, st *store.Store, o filesOpts) *filesEnv {
	t.Helper()
	c := clockwork.NewFakeClockAt(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := auth.New(st, auth.Config{OpenSignup: true, Now: c.Now}, log)
	if o.blob == nil {
		o.blob = mustFSBlob(t)
	}
	wsRoot := t.TempDir()
	local, err := sandbox.NewLocal(sandbox.LocalOptions{Root: wsRoot, Command: []string{"/bin/true"}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })
	var provider sandbox.Provider = local
	var locate workspace.Locator = local.Workspace
	if o.external {
		provider, locate = sandbox.NewExternal(sandbox.ExternalOptions{}), nil
	}
	pub := realtime.NewMemory()
	t.Cleanup(func() { pub.Close() })
	mgr := session.NewManager(st, events.New(st, pub, events.Config{}, log), provider, session.Config{Artifacts: artifacts.NewRemover(o.blob)}, log)
	h := api.New(api.Deps{
		Auth: svc, Sessions: mgr,
		Artifacts: artifacts.New(o.blob, mgr, artifacts.Options{MaxUploadBytes: o.maxUpload, Now: c.Now}),
		Workspace: workspace.New(mgr, locate, o.limits),
	}, api.Options{AllowedOrigins: []string{"http://app.example"}, Version: "test", Ready: st.Ping, Body: o.body}, log)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &filesEnv{env: &env{t: t, url: srv.URL, st: st, clock: c, logs: logs}, blob: o.blob, wsRoot: wsRoot}
}

func mustFSBlob(t *testing.T) *fsblob.Storage {
	t.Helper()
	b, err := fsblob.New(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// mustS3Blob starts an S3 protocol server (gofakes3) for the test and
// returns a storage on a fresh bucket of it.
func mustS3Blob(t *testing.T) *s3blob.Storage {
	t.Helper()
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	var b [6]byte
	_, _ = rand.Read(b[:])
	bucket := "b-" + hex.EncodeToString(b[:])
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	s, err := s3blob.New(context.Background(), s3blob.Options{Endpoint: srv.URL, Bucket: bucket, AccessKey: "k", SecretKey: "s", PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// userID returns the id of the user with token.
func (e *filesEnv) userID(token string) string {
	e.t.Helper()
	id, _ := e.userOf(token)["id"].(string)
	if id == "" {
		e.t.Fatal("no user id")
	}
	return id
}

// newSession inserts a session owned by the user (no runner: the file
// routes need none) and returns its id.
func (e *filesEnv) newSession(token string) string {
	e.t.Helper()
	now := time.Now().UTC()
	s := &store.Session{ID: uuid.NewString(), UserID: e.userID(token), Workspace: "repo", Status: store.StatusHibernated,
		Purpose: "interactive", Agent: "script", QueueMode: "followup", LastActiveAt: now, CreatedAt: now, UpdatedAt: now}
	if err := e.st.Sessions().Create(context.Background(), s); err != nil {
		e.t.Fatal(err)
	}
	return s.ID
}

// raw sends a request with a body of any reader (none for nil) and the
// given headers, and returns the response.
func (e *env) raw(method, path, token string, body io.Reader, hdr ...string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		e.t.Fatal(err)
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
	rawBody, _ := io.ReadAll(res.Body)
	out := resp{Status: res.StatusCode, Header: res.Header, Raw: rawBody}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") && len(rawBody) > 0 && rawBody[0] == '{' {
		_ = json.Unmarshal(rawBody, &out.Body)
	}
	return out
}

// mkfile writes a file under dir, creating folders.
func mkfile(t *testing.T, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

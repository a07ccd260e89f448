package app_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/agentops/agentops/app"
	"github.com/agentops/agentops/store"
)

func (s *server) raw(method, path string, body io.Reader) (int, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.url+path, body)
	req.Header.Set("Authorization", "Bearer "+s.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func (s *server) userID() string {
	s.t.Helper()
	var me struct{ User struct{ ID string } }
	s.mustJSON("GET", "/api/auth/me", s.token, nil, 200, &me)
	return me.User.ID
}

// With the default settings artifacts are files under <data-dir>/blobs,
// in upstream's key layout, and --max-upload-bytes bounds them.
func TestArtifactsOnFilesThroughServe(t *testing.T) {
	s := startServer(t, store.SQLite, "external", func(c *app.Config) { c.MaxUploadBytes = 1000 })
	sid := s.createSession(nil).Session.ID
	if code, body := s.raw("PUT", "/api/files/backup/notes/today.txt?sessionId="+sid, strings.NewReader("remember")); code != 200 {
		t.Fatalf("put: %d %s", code, body)
	}
	p := filepath.Join(s.cfg.DataDir, "blobs", "backups", s.userID(), "sessions", sid, "artifacts", "notes", "today.txt")
	if b, err := os.ReadFile(p); err != nil || string(b) != "remember" {
		t.Fatalf("object file %s: %q %v", p, b, err)
	}
	if code, body := s.raw("GET", "/api/files/backup/notes/today.txt?sessionId="+sid, nil); code != 200 || string(body) != "remember" {
		t.Fatalf("get: %d %s", code, body)
	}
	if code, body := s.raw("PUT", "/api/files/backup/big?sessionId="+sid, bytes.NewReader(make([]byte, 1001))); code != 413 {
		t.Fatalf("over --max-upload-bytes: %d %s", code, body)
	}
	// External runners: the workspace is elsewhere.
	if code, body := s.raw("GET", "/api/files/list?sessionId="+sid, nil); code != 409 || !strings.Contains(string(body), "NO_LOCAL_WORKSPACE") {
		t.Fatalf("workspace of an external session: %d %s", code, body)
	}
	// Deleting the session removes its artifacts.
	if code, body := s.raw("POST", "/api/sessions/bulk-delete", strings.NewReader(`{"sessionIds":["`+sid+`"]}`)); code != 200 {
		t.Fatalf("delete: %d %s", code, body)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("artifact of a deleted session: %v", err)
	}
}

// --blob s3 stores artifacts in the bucket.
func TestArtifactsOnS3ThroughServe(t *testing.T) {
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	if err := backend.CreateBucket("artifacts"); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, store.SQLite, "external", func(c *app.Config) {
		c.Blob = "s3"
		c.S3 = app.S3Config{Endpoint: srv.URL, Bucket: "artifacts", AccessKey: "k", SecretKey: "s", PathStyle: true}
	})
	sid := s.createSession(nil).Session.ID
	var out struct{ Key string }
	s.mustJSON("POST", "/api/files/backup", s.token, map[string]any{"sessionId": sid, "path": "a/b.txt", "content": "in the bucket"}, 200, &out)
	key := "backups/" + s.userID() + "/sessions/" + sid + "/artifacts/" + out.Key
	obj, err := backend.GetObject("artifacts", key, nil)
	if err != nil {
		t.Fatalf("object %s not in the bucket: %v", key, err)
	}
	defer obj.Contents.Close()
	if b, _ := io.ReadAll(obj.Contents); string(b) != "in the bucket" {
		t.Fatalf("bucket holds %q", b)
	}
}

// A bucket that is not there stops the start with a clear message.
func TestOpenRefusesMissingBucket(t *testing.T) {
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	cfg := newConfig(t, store.SQLite)
	cfg.Blob = "s3"
	cfg.S3 = app.S3Config{Endpoint: srv.URL, Bucket: "absent", AccessKey: "k", SecretKey: "s", PathStyle: true}
	_, err := app.Open(context.Background(), cfg, quiet)
	if err == nil || !strings.Contains(err.Error(), `bucket "absent" does not exist`) || !strings.Contains(err.Error(), "--blob s3") {
		t.Fatalf("error %v", err)
	}
}

// The workspace routes read a local session's workspace.
func TestWorkspaceFilesThroughServe(t *testing.T) {
	s := startServer(t, store.SQLite, "local")
	sid := s.createSession(nil).Session.ID
	ws := filepath.Join(s.cfg.DataDir, "workspaces", sid)
	if err := os.WriteFile(filepath.Join(ws, "hello.txt"), []byte("hi from the workspace"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out struct{ Content string }
	s.mustJSON("GET", "/api/files/read?sessionId="+sid+"&path=hello.txt", s.token, nil, 200, &out)
	if out.Content != "hi from the workspace" {
		t.Fatalf("read %q", out.Content)
	}
	s.mustJSON("DELETE", "/api/sessions/"+sid, s.token, nil, 200, nil)
}

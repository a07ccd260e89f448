package agentops_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/cmd/agentops"
)

// serveErr runs serve with the environment the test set and returns its
// error; the settings must fail before anything is opened.
func serveErr(t *testing.T, args ...string) (dir string, err error) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "data")
	root := agentops.NewRoot("test")
	root.SetArgs(append([]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0"}, args...))
	root.SetIn(strings.NewReader(""))
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return dir, root.ExecuteContext(ctx)
}

func TestBlobSettings(t *testing.T) {
	t.Run("incomplete s3", func(t *testing.T) {
		isolateEnv(t)
		t.Setenv("AGENTOPS_BLOB", "s3")
		t.Setenv("AGENTOPS_S3_BUCKET", "b")
		dir, err := serveErr(t)
		for _, want := range []string{"--s3-endpoint (AGENTOPS_S3_ENDPOINT)", "--s3-access-key (AGENTOPS_S3_ACCESS_KEY)", "--s3-secret-key (AGENTOPS_S3_SECRET_KEY)"} {
			wantErrContains(t, err, want)
		}
		if strings.Contains(err.Error(), "s3-bucket") {
			t.Errorf("the bucket was set: %v", err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("serve created its data dir despite the incomplete settings")
		}
	})
	t.Run("flags complete the environment", func(t *testing.T) {
		isolateEnv(t)
		t.Setenv("AGENTOPS_BLOB", "s3")
		// Every setting present, an endpoint with a path: refused by the
		// driver, which proves the settings got that far.
		_, err := serveErr(t, "--s3-endpoint", "http://127.0.0.1:1/sub", "--s3-bucket", "b", "--s3-access-key", "k", "--s3-secret-key", "s")
		wantErrContains(t, err, "no path")
	})
	t.Run("unknown driver", func(t *testing.T) {
		isolateEnv(t)
		_, err := serveErr(t, "--blob", "ftp")
		wantErrContains(t, err, "--blob must be fs or s3")
	})
	t.Run("upload limit", func(t *testing.T) {
		isolateEnv(t)
		t.Setenv("AGENTOPS_MAX_UPLOAD_BYTES", "lots")
		_, err := serveErr(t)
		wantErrContains(t, err, "AGENTOPS_MAX_UPLOAD_BYTES")
		t.Setenv("AGENTOPS_MAX_UPLOAD_BYTES", "-5")
		_, err = serveErr(t)
		wantErrContains(t, err, "--max-upload-bytes must be positive")
	})
}

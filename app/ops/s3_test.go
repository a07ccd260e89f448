package ops_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/agentops/agentops/app/ops"
	"github.com/agentops/agentops/store/blob"
	"github.com/agentops/agentops/store/blob/s3blob"
)

func mustBucket(t *testing.T, url, bucket string) blob.Storage {
	t.Helper()
	s, err := s3blob.New(context.Background(), s3blob.Options{Endpoint: url, Bucket: bucket, AccessKey: "k", SecretKey: "s", PathStyle: true, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBackupRestoreS3: objects listed and copied from an S3 bucket are
// restored into another bucket with their types and metadata; a bucket
// that holds objects is refused as a restore target.
func TestBackupRestoreS3(t *testing.T) {
	ctx := context.Background()
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	for _, b := range []string{"src", "dst"} {
		if err := backend.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	src := mustBucket(t, srv.URL, "src")
	for i := range 3 {
		if _, err := src.Put(ctx, fmt.Sprintf("k/%d.bin", i), strings.NewReader(strings.Repeat("x", i*700)),
			blob.PutOptions{ContentType: "application/x-test", Metadata: map[string]string{"i": fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	in := mustSeed(t, 1, 1)
	key, _ := os.ReadFile(in.cfg.InstanceKeyFile)
	out := filepath.Join(t.TempDir(), "b.tgz")
	res, err := ops.Backup(ctx, ops.BackupOptions{Store: mustOpen(t, in.cfg.DatabaseURL), Blob: src, Key: key, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifest.Objects != 3 {
		t.Fatalf("backed up %d objects", res.Manifest.Objects)
	}
	restore := func(bucket string) error {
		target := filepath.Join(t.TempDir(), "r")
		_, err := ops.Restore(ctx, ops.RestoreOptions{Archive: out, DataDir: target, DatabaseURL: filepath.Join(target, "agentops.db"),
			KeyFile: filepath.Join(target, "instance.key"), WorkspacesDir: filepath.Join(target, "workspaces"),
			OpenBlob: func(context.Context) (blob.Storage, error) { return mustBucket(t, srv.URL, bucket), nil }})
		return err
	}
	if err := restore("dst"); err != nil {
		t.Fatal(err)
	}
	dst := mustBucket(t, srv.URL, "dst")
	for i := range 3 {
		obj, err := dst.Get(ctx, fmt.Sprintf("k/%d.bin", i), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		if len(body) != i*700 || obj.ContentType != "application/x-test" || obj.Metadata["i"] != fmt.Sprint(i) {
			t.Errorf("object %d: %d bytes, %s, %v", i, len(body), obj.ContentType, obj.Metadata)
		}
	}
	if err := restore("dst"); !errors.Is(err, ops.ErrTargetNotEmptyRestore) {
		t.Errorf("restore into a bucket with objects: %v", err)
	}
}

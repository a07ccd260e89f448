package s3blob_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/agentops/agentops/store/blob"
	"github.com/agentops/agentops/store/blob/blobtest"
	"github.com/agentops/agentops/store/blob/s3blob"
)

// fakeS3 starts an S3 protocol server (gofakes3, in memory) for the test.
func fakeS3(t *testing.T) (endpoint string, backend *s3mem.Backend) {
	t.Helper()
	backend = s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	return srv.URL, backend
}

func newStorage(t *testing.T, endpoint string, backend *s3mem.Backend) *s3blob.Storage {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	bucket := "b-" + hex.EncodeToString(b[:])
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	s, err := s3blob.New(context.Background(), s3blob.Options{
		Endpoint: endpoint, Region: "us-east-1", Bucket: bucket, AccessKey: "test", SecretKey: "test-secret",
		PathStyle: true, PartSize: 5 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	endpoint, backend := fakeS3(t)
	blobtest.Run(t, func(t *testing.T) blob.Storage { return newStorage(t, endpoint, backend) },
		blobtest.Options{LargeSize: 12 << 20}) // above the 5 MiB part size: multipart
}

func TestNewRefusesBadConfig(t *testing.T) {
	endpoint, backend := fakeS3(t)
	_ = backend.CreateBucket("there")
	ctx := context.Background()
	base := s3blob.Options{Endpoint: endpoint, Bucket: "there", AccessKey: "a", SecretKey: "b", PathStyle: true}
	cases := []struct {
		name string
		edit func(o *s3blob.Options)
		want string
	}{
		{"no bucket", func(o *s3blob.Options) { o.Bucket = "" }, "missing bucket"},
		{"no keys", func(o *s3blob.Options) { o.AccessKey, o.SecretKey = "", "" }, "missing access key, secret key"},
		{"no endpoint", func(o *s3blob.Options) { o.Endpoint = "" }, "missing endpoint"},
		{"endpoint path", func(o *s3blob.Options) { o.Endpoint += "/sub" }, "no path"},
		{"endpoint scheme", func(o *s3blob.Options) { o.Endpoint = "ftp://x" }, "must be http(s)"},
		{"absent bucket", func(o *s3blob.Options) { o.Bucket = "absent" }, `bucket "absent" does not exist`},
		{"small parts", func(o *s3blob.Options) { o.PartSize = 1 << 20 }, "at least 5 MiB"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := base
			c.edit(&o)
			_, err := s3blob.New(ctx, o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one saying %q", err, c.want)
			}
		})
	}
	if _, err := s3blob.New(ctx, base); err != nil {
		t.Fatalf("good config: %v", err)
	}
}

// A multipart upload that fails is aborted: no parts stay behind.
func TestFailedMultipartIsAborted(t *testing.T) {
	endpoint, backend := fakeS3(t)
	s := newStorage(t, endpoint, backend)
	bucket := s.Bucket()
	_, err := s.Put(context.Background(), "big", io.MultiReader(io.LimitReader(zeros{}, 11<<20), iotest.ErrReader(errors.New("disk gone"))), blob.PutOptions{})
	if err == nil {
		t.Fatal("no error")
	}
	c, err := minio.New(strings.TrimPrefix(endpoint, "http://"), &minio.Options{Creds: credentials.NewStaticV4("test", "test-secret", ""), BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	res, err := minio.Core{Client: c}.ListMultipartUploads(context.Background(), bucket, "", "", "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Uploads) != 0 {
		t.Fatalf("uploads left: %+v", res.Uploads)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

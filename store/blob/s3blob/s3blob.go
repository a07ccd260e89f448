// Package s3blob stores blobs in a bucket of an S3-compatible service (AWS
// S3, MinIO, Cloudflare R2, …) through minio-go.
//
// Metadata values are stored percent-encoded (S3 metadata travels in HTTP
// headers, which are ASCII) and decoded on the way back. Uploads are
// buffered one part (Options.PartSize) at a time: a body of one part is
// one PUT, a longer one a multipart upload that is aborted if anything
// fails, so the previous object stays.
package s3blob

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/agentops/agentops/store/blob"
)

// DefaultPartSize is the multipart part size: objects up to 10,000 parts
// (about 156 GiB), one part buffered per upload.
const DefaultPartSize = 16 << 20

// Options configure the driver.
type Options struct {
	// Endpoint is the service URL: https://s3.amazonaws.com,
	// https://<account>.r2.cloudflarestorage.com, http://localhost:9000.
	// A bare host[:port] means https.
	Endpoint  string
	Region    string // default us-east-1; "auto" for R2
	Bucket    string
	AccessKey string
	SecretKey string
	// PathStyle addresses the bucket in the path (http://host/bucket/key),
	// as MinIO and most self-hosted services need, instead of the host name.
	PathStyle bool
	// PartSize of multipart uploads (at least 5 MiB); default DefaultPartSize.
	PartSize uint64
	// Transport overrides the HTTP transport (tests).
	Transport http.RoundTripper
}

// Storage is the S3 driver.
type Storage struct {
	c        *minio.Client
	core     minio.Core
	bucket   string
	partSize uint64
	// buffers recycles part buffers between uploads.
	buffers sync.Pool
}

var _ blob.Storage = (*Storage)(nil)

// New connects to the service and checks that the bucket exists, so that a
// wrong endpoint, bad credentials or a missing bucket stop the server at
// start-up with a clear message instead of failing the first upload.
func New(ctx context.Context, o Options) (*Storage, error) {
	var missing []string
	for _, f := range []struct{ name, v string }{{"endpoint", o.Endpoint}, {"bucket", o.Bucket}, {"access key", o.AccessKey}, {"secret key", o.SecretKey}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("s3blob: missing %s", strings.Join(missing, ", "))
	}
	host, secure, err := parseEndpoint(o.Endpoint)
	if err != nil {
		return nil, err
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.PartSize < 5<<20 {
		return nil, errors.New("s3blob: part size must be at least 5 MiB")
	}
	lookup := minio.BucketLookupAuto
	if o.PathStyle {
		lookup = minio.BucketLookupPath
	}
	c, err := minio.New(host, &minio.Options{
		Creds:        credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""),
		Secure:       secure,
		Region:       o.Region,
		BucketLookup: lookup,
		Transport:    o.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("s3blob: %w", err)
	}
	s := &Storage{c: c, core: minio.Core{Client: c}, bucket: o.Bucket, partSize: o.PartSize}
	s.buffers.New = func() any {
		b := make([]byte, o.PartSize)
		return &b
	}
	ok, err := c.BucketExists(ctx, o.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3blob: cannot check bucket %q at %s: %w", o.Bucket, o.Endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("s3blob: bucket %q does not exist at %s (create it first)", o.Bucket, o.Endpoint)
	}
	return s, nil
}

// Bucket is the bucket's name.
func (s *Storage) Bucket() string { return s.bucket }

func parseEndpoint(e string) (host string, secure bool, err error) {
	if !strings.Contains(e, "://") {
		return e, true, nil
	}
	u, err := url.Parse(e)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") {
		return "", false, fmt.Errorf("s3blob: endpoint %q must be http(s)://host[:port] with no path", e)
	}
	return u.Host, u.Scheme == "https", nil
}

// mapErr turns S3 error codes into the blob errors.
func mapErr(op, key string, err error) error {
	if err == nil {
		return nil
	}
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == "NoSuchKey" || (resp.StatusCode == http.StatusNotFound && resp.Code != "NoSuchBucket"):
		return blob.ErrNotFound
	case resp.Code == "InvalidRange" || resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		return blob.ErrInvalidRange
	}
	return fmt.Errorf("s3blob: %s %q: %w", op, key, err)
}

func encodeMetadata(md map[string]string) map[string]string {
	if len(md) == 0 {
		return nil
	}
	out := make(map[string]string, len(md))
	for k, v := range md {
		out[k] = url.QueryEscape(v)
	}
	return out
}

func decodeMetadata(h http.Header) map[string]string {
	out := map[string]string{}
	for k, vs := range h {
		name, ok := strings.CutPrefix(strings.ToLower(k), "x-amz-meta-")
		if !ok || len(vs) == 0 {
			continue
		}
		v, err := url.QueryUnescape(vs[0])
		if err != nil {
			v = vs[0]
		}
		out[name] = v
	}
	return out
}

func toInfo(oi minio.ObjectInfo) blob.Info {
	return blob.Info{
		Key: oi.Key, Size: oi.Size, ModTime: oi.LastModified.UTC(), ETag: strings.Trim(oi.ETag, `"`),
		ContentType: oi.ContentType, Metadata: decodeMetadata(oi.Metadata),
	}
}

// Stat implements blob.Storage.
func (s *Storage) Stat(ctx context.Context, key string) (blob.Info, error) {
	if err := blob.ValidateKey(key); err != nil {
		return blob.Info{}, err
	}
	oi, err := s.c.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return blob.Info{}, mapErr("stat", key, err)
	}
	return toInfo(oi), nil
}

// Get implements blob.Storage with one GET request.
func (s *Storage) Get(ctx context.Context, key string, rng *blob.Range) (*blob.Object, error) {
	if err := blob.ValidateKey(key); err != nil {
		return nil, err
	}
	var opts minio.GetObjectOptions
	if rng != nil {
		if rng.Offset < 0 || rng.Length <= 0 {
			return nil, blob.ErrInvalidRange
		}
		if err := opts.SetRange(rng.Offset, rng.Offset+rng.Length-1); err != nil {
			return nil, blob.ErrInvalidRange
		}
	}
	body, oi, hdr, err := s.core.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		return nil, mapErr("get", key, err)
	}
	info := toInfo(oi)
	info.Key = key
	got := blob.Range{Offset: 0, Length: oi.Size}
	if rng != nil {
		// A ranged response's length is the part's; the whole size is
		// in Content-Range: bytes first-last/size.
		first, last, size, ok := parseContentRange(hdr.Get("Content-Range"))
		if !ok {
			body.Close()
			return nil, fmt.Errorf("s3blob: get %q: ranged response without a valid Content-Range (%q)", key, hdr.Get("Content-Range"))
		}
		info.Size, got = size, blob.Range{Offset: first, Length: last - first + 1}
	}
	return &blob.Object{Info: info, Range: got, Body: body}, nil
}

func parseContentRange(v string) (first, last, size int64, ok bool) {
	v, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	span, total, found := strings.Cut(v, "/")
	a, b, found2 := strings.Cut(span, "-")
	if !found || !found2 {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	first, err1 = strconv.ParseInt(a, 10, 64)
	last, err2 = strconv.ParseInt(b, 10, 64)
	size, err3 = strconv.ParseInt(total, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || first > last || last >= size {
		return 0, 0, 0, false
	}
	return first, last, size, true
}

// Put implements blob.Storage. The body is read a part at a time into a
// buffer: a body that fits one part is one PUT, a longer one a multipart
// upload, aborted if anything fails. Each request carries its payload's
// MD5 and SHA-256, so the service verifies what it stores.
func (s *Storage) Put(ctx context.Context, key string, body io.Reader, opts blob.PutOptions) (blob.Info, error) {
	if err := blob.ValidateKey(key); err != nil {
		return blob.Info{}, err
	}
	if err := blob.ValidateMetadata(opts.Metadata); err != nil {
		return blob.Info{}, err
	}
	if opts.ContentType == "" {
		opts.ContentType = blob.DefaultContentType
	}
	var buf []byte
	if opts.Size > 0 {
		body = &exactReader{r: body, left: opts.Size}
		if opts.Size < int64(s.partSize) {
			// One byte more than declared, so that the body's end (or the
			// exactReader's complaint) comes within the buffer.
			buf = make([]byte, opts.Size+1)
		}
	}
	if buf == nil {
		b := s.buffers.Get().(*[]byte)
		defer s.buffers.Put(b)
		buf = *b
	}
	// The payload hashes are computed here, so no streaming signature.
	putOpts := minio.PutObjectOptions{ContentType: opts.ContentType, UserMetadata: encodeMetadata(opts.Metadata), DisableContentSha256: true}

	n, err := readPart(ctx, body, buf)
	var ui minio.UploadInfo
	switch {
	case err == io.EOF:
		md5b64, sha := sums(buf[:n])
		ui, err = s.core.PutObject(ctx, s.bucket, key, bytes.NewReader(buf[:n]), int64(n), md5b64, sha, putOpts)
		if err == nil {
			ui.Size = int64(n)
		}
	case err == nil:
		ui, err = s.multipart(ctx, key, body, buf, n, putOpts)
	}
	if err != nil {
		if errors.Is(err, blob.ErrSizeMismatch) {
			return blob.Info{}, err
		}
		if ctx.Err() != nil {
			return blob.Info{}, ctx.Err()
		}
		return blob.Info{}, mapErr("put", key, err)
	}
	mod := ui.LastModified
	if mod.IsZero() {
		mod = time.Now()
	}
	md := opts.Metadata
	if md == nil {
		md = map[string]string{}
	}
	return blob.Info{Key: key, Size: ui.Size, ModTime: mod.UTC(), ETag: strings.Trim(ui.ETag, `"`),
		ContentType: opts.ContentType, Metadata: md}, nil
}

// readPart fills buf from r. It returns io.EOF when the body ended within
// buf (n bytes of it), nil when buf is full and more may follow.
func readPart(ctx context.Context, r io.Reader, buf []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n, err := io.ReadFull(r, buf)
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		return n, io.EOF
	case err != nil:
		return n, err
	case len(buf) > 0:
		return n, nil
	}
	// An empty buffer (a declared size of 0 is "unknown", so this is a
	// known size that fits no part): make sure the body is over.
	var one [1]byte
	if k, err := io.ReadFull(r, one[:]); k == 0 && (err == io.EOF || err == io.ErrUnexpectedEOF) {
		return 0, io.EOF
	} else if err != nil && err != io.ErrUnexpectedEOF {
		return 0, err
	}
	return 0, fmt.Errorf("%w: body is longer than declared", blob.ErrSizeMismatch)
}

func sums(b []byte) (md5b64, sha256hex string) {
	m := md5.Sum(b)
	h := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(m[:]), hex.EncodeToString(h[:])
}

// multipart uploads the first part (buf[:n]) and the rest of body in parts.
func (s *Storage) multipart(ctx context.Context, key string, body io.Reader, buf []byte, n int, opts minio.PutObjectOptions) (ui minio.UploadInfo, err error) {
	id, err := s.core.NewMultipartUpload(ctx, s.bucket, key, opts)
	if err != nil {
		return ui, err
	}
	defer func() {
		if err != nil {
			// The parts would cost storage until a lifecycle rule removed
			// them; abort even if ctx is over.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			_ = s.core.AbortMultipartUpload(actx, s.bucket, key, id)
		}
	}()
	var parts []minio.CompletePart
	var total int64
	for {
		if len(parts) == maxParts {
			return ui, fmt.Errorf("object is larger than %d parts of %d bytes", maxParts, len(buf))
		}
		md5b64, sha := sums(buf[:n])
		p, err := s.core.PutObjectPart(ctx, s.bucket, key, id, len(parts)+1, bytes.NewReader(buf[:n]), int64(n),
			minio.PutObjectPartOptions{Md5Base64: md5b64, Sha256Hex: sha, DisableContentSha256: true})
		if err != nil {
			return ui, err
		}
		parts = append(parts, minio.CompletePart{PartNumber: p.PartNumber, ETag: p.ETag})
		total += int64(n)
		var rerr error
		n, rerr = readPart(ctx, body, buf)
		if rerr == io.EOF && n == 0 {
			break
		}
		if rerr != nil && rerr != io.EOF {
			return ui, rerr
		}
		// A short part (rerr == io.EOF) is the last; the next readPart
		// returns 0, io.EOF.
	}
	ui, err = s.core.CompleteMultipartUpload(ctx, s.bucket, key, id, parts, opts)
	if err != nil {
		return ui, err
	}
	ui.Size = total
	return ui, nil
}

// maxParts is S3's limit of parts per upload.
const maxParts = 10000

// exactReader delivers exactly left bytes of r and fails the read that
// would end the body early or late, so that the upload fails before it
// completes (a client that stops reading at the declared length would not
// notice a longer body otherwise).
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left == 0 {
		return 0, e.checkEnd()
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		return n, fmt.Errorf("%w: body ended %d bytes early", blob.ErrSizeMismatch, e.left)
	}
	if err == nil && e.left == 0 {
		err = e.checkEnd()
		if err == io.EOF {
			err = nil // this read delivers the last bytes; the next says EOF
		}
	}
	return n, err
}

func (e *exactReader) checkEnd() error {
	var b [1]byte
	for range 100 {
		n, err := e.r.Read(b[:])
		if n > 0 {
			return fmt.Errorf("%w: body is longer than declared", blob.ErrSizeMismatch)
		}
		if err != nil {
			if err == io.EOF {
				return io.EOF
			}
			return err
		}
	}
	return io.ErrNoProgress
}

// Delete implements blob.Storage.
func (s *Storage) Delete(ctx context.Context, key string) error {
	if err := blob.ValidateKey(key); err != nil {
		return err
	}
	return mapErr("delete", key, s.c.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}))
}

// List implements blob.Storage with one ListObjectsV2 request.
func (s *Storage) List(ctx context.Context, prefix, cursor string, limit int) (blob.Page, error) {
	if err := blob.ValidatePrefix(prefix); err != nil {
		return blob.Page{}, err
	}
	if err := blob.ValidateCursor(cursor); err != nil {
		return blob.Page{}, err
	}
	if limit < 1 || limit > blob.MaxListLimit {
		return blob.Page{}, fmt.Errorf("s3blob: list limit %d is not within 1..%d", limit, blob.MaxListLimit)
	}
	// ListObjects pages in a goroutine of its own until its context ends:
	// take limit+1 objects (one request), then stop it and wait for it.
	lctx, cancel := context.WithCancel(ctx)
	ch := s.c.ListObjects(lctx, s.bucket, minio.ListObjectsOptions{
		Prefix: prefix, StartAfter: cursor, Recursive: true, MaxKeys: limit + 1,
	})
	defer func() {
		cancel()
		for range ch {
		}
	}()
	var page blob.Page
	for oi := range ch {
		if oi.Err != nil {
			return blob.Page{}, mapErr("list", prefix, oi.Err)
		}
		if len(page.Items) == limit {
			page.Next = page.Items[limit-1].Key
			break
		}
		page.Items = append(page.Items, blob.Info{Key: oi.Key, Size: oi.Size, ModTime: oi.LastModified.UTC(), ETag: strings.Trim(oi.ETag, `"`)})
	}
	if err := ctx.Err(); err != nil {
		return blob.Page{}, err
	}
	return page, nil
}

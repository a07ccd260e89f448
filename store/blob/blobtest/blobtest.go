// Package blobtest is the contract every blob.Storage driver passes: run it
// from the driver's tests with a constructor of empty storages.
package blobtest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentops/agentops/store/blob"
)

// Options tune the suite to a driver.
type Options struct {
	// LargeSize is the size of the streamed objects (default 12 MiB); an S3
	// driver sets it above its part size so that multipart uploads run.
	LargeSize int
}

// Run runs the contract against storages made by newStorage, a fresh empty
// one per subtest.
func Run(t *testing.T, newStorage func(t *testing.T) blob.Storage, opts Options) {
	if opts.LargeSize == 0 {
		opts.LargeSize = 12 << 20
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Storage)
	}{
		{"PutStatGet", testPutStatGet},
		{"EmptyObject", testEmptyObject},
		{"Overwrite", testOverwrite},
		{"Missing", testMissing},
		{"Ranges", testRanges},
		{"StreamLarge", func(t *testing.T, s blob.Storage) { testStreamLarge(t, s, opts.LargeSize) }},
		{"SizeMismatch", testSizeMismatch},
		{"FailedPutKeepsOld", testFailedPutKeepsOld},
		{"CancelledPutKeepsOld", testCancelledPutKeepsOld},
		{"InvalidKeys", testInvalidKeys},
		{"InvalidMetadata", testInvalidMetadata},
		{"ListOrderPrefixPages", testList},
		{"ListBadInput", testListBadInput},
		{"Delete", testDelete},
		{"FileDirectoryKeys", testFileDirectoryKeys},
		{"ConcurrentPuts", testConcurrentPuts},
		{"ReadDuringOverwrite", testReadDuringOverwrite},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStorage(t))
		})
	}
}

// MustPut stores content under key and fails the test on error.
func MustPut(t testing.TB, s blob.Storage, key, content string, opts ...blob.PutOptions) blob.Info {
	t.Helper()
	var o blob.PutOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	info, err := s.Put(context.Background(), key, strings.NewReader(content), o)
	if err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
	return info
}

// MustRead returns an object's content (or a range of it) and its Object.
func MustRead(t testing.TB, s blob.Storage, key string, rng *blob.Range) (string, *blob.Object) {
	t.Helper()
	obj, err := s.Get(context.Background(), key, rng)
	if err != nil {
		t.Fatalf("get %q %v: %v", key, rng, err)
	}
	defer obj.Body.Close()
	b, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return string(b), obj
}

func testPutStatGet(t *testing.T, s blob.Storage) {
	ctx := context.Background()
	before := time.Now().Add(-2 * time.Second)
	md := map[string]string{"original-path": "/workspace/src/ünïcode file.go", "session-id": "abc"}
	info, err := s.Put(ctx, "dir/sub/notes.txt", strings.NewReader("hello, world"),
		blob.PutOptions{ContentType: "text/plain; charset=utf-8", Size: 12, Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().Add(2 * time.Second)
	if info.Key != "dir/sub/notes.txt" || info.Size != 12 || info.ETag == "" {
		t.Fatalf("put info: %+v", info)
	}
	st, err := s.Stat(ctx, "dir/sub/notes.txt")
	if err != nil {
		t.Fatal(err)
	}
	if st.Key != info.Key || st.Size != 12 || st.ETag != info.ETag || st.ContentType != "text/plain; charset=utf-8" {
		t.Fatalf("stat %+v, put %+v", st, info)
	}
	if st.ModTime.Before(before) || st.ModTime.After(after) {
		t.Fatalf("mod time %v not within [%v, %v]", st.ModTime, before, after)
	}
	if !mapsEqual(st.Metadata, md) {
		t.Fatalf("metadata %v, want %v", st.Metadata, md)
	}
	body, obj := MustRead(t, s, "dir/sub/notes.txt", nil)
	if body != "hello, world" {
		t.Fatalf("body %q", body)
	}
	if obj.Size != 12 || obj.ETag != info.ETag || obj.ContentType != st.ContentType || obj.Range != (blob.Range{Offset: 0, Length: 12}) {
		t.Fatalf("object %+v", obj.Info)
	}
	if !mapsEqual(obj.Metadata, md) {
		t.Fatalf("get metadata %v", obj.Metadata)
	}
	// Without a content type, the default.
	MustPut(t, s, "plain", "x")
	if st, _ := s.Stat(ctx, "plain"); st.ContentType != blob.DefaultContentType {
		t.Fatalf("default content type %q", st.ContentType)
	}
}

func testEmptyObject(t *testing.T, s blob.Storage) {
	info := MustPut(t, s, "empty", "")
	if info.Size != 0 || info.ETag == "" {
		t.Fatalf("info %+v", info)
	}
	body, obj := MustRead(t, s, "empty", nil)
	if body != "" || obj.Size != 0 || obj.Range.Length != 0 {
		t.Fatalf("empty object: %q %+v", body, obj)
	}
	if _, err := s.Get(context.Background(), "empty", &blob.Range{Offset: 0, Length: 1}); !errors.Is(err, blob.ErrInvalidRange) {
		t.Fatalf("range of an empty object: %v", err)
	}
}

func testOverwrite(t *testing.T, s blob.Storage) {
	a := MustPut(t, s, "k", "first version")
	b := MustPut(t, s, "k", "second")
	if a.ETag == b.ETag {
		t.Fatalf("new content, same ETag %q", a.ETag)
	}
	if body, obj := MustRead(t, s, "k", nil); body != "second" || obj.ETag != b.ETag || obj.Size != 6 {
		t.Fatalf("after overwrite: %q %+v", body, obj.Info)
	}
	page, err := s.List(context.Background(), "", "", 10)
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("one object after overwrite: %+v %v", page, err)
	}
}

func testMissing(t *testing.T, s blob.Storage) {
	ctx := context.Background()
	if _, err := s.Stat(ctx, "nope"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("stat missing: %v", err)
	}
	if _, err := s.Get(ctx, "nope", nil); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	if _, err := s.Get(ctx, "nope", &blob.Range{Offset: 0, Length: 1}); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("ranged get missing: %v", err)
	}
	if err := s.Delete(ctx, "nope"); err != nil {
		t.Fatalf("delete missing: %v", err)
	}
	MustPut(t, s, "dir/x", "1")
	for _, k := range []string{"dir", "di", "dir/x/y"} {
		if _, err := s.Stat(ctx, k); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("stat %q (not an object): %v", k, err)
		}
		if _, err := s.Get(ctx, k, nil); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("get %q (not an object): %v", k, err)
		}
	}
}

func testRanges(t *testing.T, s blob.Storage) {
	const content = "0123456789abcdef"
	info := MustPut(t, s, "r", content)
	cases := []struct {
		rng  blob.Range
		want string
	}{
		{blob.Range{Offset: 0, Length: 1}, "0"},
		{blob.Range{Offset: 3, Length: 4}, "3456"},
		{blob.Range{Offset: 15, Length: 1}, "f"},
		{blob.Range{Offset: 10, Length: 100}, "abcdef"},
		{blob.Range{Offset: 0, Length: 16}, content},
	}
	for _, c := range cases {
		rng := c.rng
		body, obj := MustRead(t, s, "r", &rng)
		if body != c.want {
			t.Errorf("range %+v: %q, want %q", c.rng, body, c.want)
		}
		if obj.Size != 16 || obj.ETag != info.ETag || obj.Range.Offset != c.rng.Offset || obj.Range.Length != int64(len(c.want)) {
			t.Errorf("range %+v: object %+v range %+v", c.rng, obj.Info, obj.Range)
		}
	}
	for _, bad := range []blob.Range{{Offset: 16, Length: 1}, {Offset: 100, Length: 1}, {Offset: -1, Length: 2}, {Offset: 0, Length: 0}} {
		if _, err := s.Get(context.Background(), "r", &bad); !errors.Is(err, blob.ErrInvalidRange) {
			t.Errorf("range %+v: %v, want ErrInvalidRange", bad, err)
		}
	}
}

// pattern is a reader of n deterministic bytes that never holds them all.
type pattern struct{ n, off int }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if len(b) > p.n-p.off {
		b = b[:p.n-p.off]
	}
	for i := range b {
		x := p.off + i
		b[i] = byte(x*7 + x>>10)
	}
	p.off += len(b)
	return len(b), nil
}

func digest(r io.Reader) (string, int64) {
	h := sha256.New()
	n, _ := io.Copy(h, r)
	return fmt.Sprintf("%x", h.Sum(nil)), n
}

func testStreamLarge(t *testing.T, s blob.Storage, size int) {
	ctx := context.Background()
	want, _ := digest(&pattern{n: size})
	for _, known := range []bool{false, true} {
		key := fmt.Sprintf("large-%v", known)
		opts := blob.PutOptions{}
		if known {
			opts.Size = int64(size)
		}
		// Hide WriterTo/Len so drivers see a plain stream.
		info, err := s.Put(ctx, key, struct{ io.Reader }{&pattern{n: size}}, opts)
		if err != nil {
			t.Fatalf("put (size known %v): %v", known, err)
		}
		if info.Size != int64(size) {
			t.Fatalf("size %d, want %d", info.Size, size)
		}
		obj, err := s.Get(ctx, key, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, n := digest(obj.Body)
		obj.Body.Close()
		if got != want || n != int64(size) {
			t.Fatalf("read back %d bytes, digest mismatch (size known %v)", n, known)
		}
		// A range in the middle, across any part boundary.
		off := int64(size/2 - 1000)
		rng := blob.Range{Offset: off, Length: 5000}
		body, _ := MustRead(t, s, key, &rng)
		exp := make([]byte, size)
		_, _ = io.ReadFull(&pattern{n: size}, exp)
		if body != string(exp[off:off+5000]) {
			t.Fatal("middle range differs")
		}
	}
}

func testSizeMismatch(t *testing.T, s blob.Storage) {
	ctx := context.Background()
	MustPut(t, s, "k", "original")
	for _, c := range []struct {
		body string
		size int64
	}{{"short", 10}, {"longer than declared", 5}} {
		_, err := s.Put(ctx, "k", strings.NewReader(c.body), blob.PutOptions{Size: c.size})
		if err == nil {
			t.Fatalf("put %d bytes declared as %d: no error", len(c.body), c.size)
		}
		if body, _ := MustRead(t, s, "k", nil); body != "original" {
			t.Fatalf("a failed put changed the object: %q", body)
		}
	}
	_, err := s.Put(ctx, "new", strings.NewReader("abc"), blob.PutOptions{Size: 10})
	if err == nil {
		t.Fatal("short body: no error")
	}
	if _, err := s.Stat(ctx, "new"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("a failed put created an object: %v", err)
	}
}

// failingReader returns n bytes of data, then err.
type failingReader struct {
	n   int
	err error
}

func (f *failingReader) Read(b []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	if len(b) > f.n {
		b = b[:f.n]
	}
	for i := range b {
		b[i] = 'x'
	}
	f.n -= len(b)
	return len(b), nil
}

var errBoom = errors.New("boom")

func testFailedPutKeepsOld(t *testing.T, s blob.Storage) {
	ctx := context.Background()
	old := MustPut(t, s, "k", "original")
	for _, n := range []int{0, 1000, 6 << 20} {
		_, err := s.Put(ctx, "k", &failingReader{n: n, err: errBoom}, blob.PutOptions{})
		if err == nil {
			t.Fatalf("put from a failing body (%d bytes first): no error", n)
		}
		body, obj := MustRead(t, s, "k", nil)
		if body != "original" || obj.ETag != old.ETag {
			t.Fatalf("failed put changed the object: %q %+v", body, obj.Info)
		}
		if _, err := s.Put(ctx, "fresh", &failingReader{n: n, err: errBoom}, blob.PutOptions{}); err == nil {
			t.Fatal("no error")
		}
		if _, err := s.Stat(ctx, "fresh"); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("a failed put created an object: %v", err)
		}
	}
	page, err := s.List(ctx, "", "", 10)
	if err != nil || len(page.Items) != 1 || page.Items[0].Key != "k" {
		t.Fatalf("list after failed puts: %+v %v", page, err)
	}
}

// cancelReader cancels its context after n bytes, then keeps going.
type cancelReader struct {
	n      int
	cancel context.CancelFunc
}

func (c *cancelReader) Read(b []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	if len(b) > 4096 {
		b = b[:4096]
	}
	for i := range b {
		b[i] = 'y'
	}
	c.n -= len(b)
	if c.n < -(64 << 20) {
		return len(b), io.EOF // a driver that ignores ctx still ends
	}
	return len(b), nil
}

func testCancelledPutKeepsOld(t *testing.T, s blob.Storage) {
	MustPut(t, s, "k", "original")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := s.Put(ctx, "k", &cancelReader{n: 100 << 10, cancel: cancel}, blob.PutOptions{}); err == nil {
		t.Fatal("put with a cancelled context: no error")
	}
	if body, _ := MustRead(t, s, "k", nil); body != "original" {
		t.Fatalf("cancelled put changed the object: %d bytes", len(body))
	}
}

func testInvalidKeys(t *testing.T, s blob.Storage) {
	ctx := context.Background()
	MustPut(t, s, "a/b", "inside")
	for _, k := range []string{"", "/etc/passwd", "../outside", "a/../../x", "a/./b", "a//b", "a/", "a\\..\\x",
		"a\x00b", "line\nbreak", ".agentops-tmp/x", "a/.agentops-meta.b"} {
		if _, err := s.Put(ctx, k, strings.NewReader("x"), blob.PutOptions{}); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("put %q: %v, want ErrInvalidKey", k, err)
		}
		if _, err := s.Stat(ctx, k); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("stat %q: %v", k, err)
		}
		if _, err := s.Get(ctx, k, nil); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("get %q: %v", k, err)
		}
		if err := s.Delete(ctx, k); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("delete %q: %v", k, err)
		}
	}
	page, err := s.List(ctx, "", "", 100)
	if err != nil || len(page.Items) != 1 || page.Items[0].Key != "a/b" {
		t.Fatalf("bad keys changed the store: %+v %v", page, err)
	}
}

func testInvalidMetadata(t *testing.T, s blob.Storage) {
	_, err := s.Put(context.Background(), "k", strings.NewReader("x"), blob.PutOptions{Metadata: map[string]string{"Bad Key": "v"}})
	if err == nil {
		t.Fatal("bad metadata key: no error")
	}
	if _, err := s.Stat(context.Background(), "k"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("bad metadata stored an object: %v", err)
	}
}

func keysOf(items []blob.Info) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Key
	}
	return out
}

func testList(t *testing.T, s blob.Storage) {
	ctx := context.Background()
	// Byte order of whole keys, not of directory walks: "a-c" < "a/b"
	// because '-' < '/', and "a/b" < "a0".
	keys := []string{"a/b", "a-c", "a0", "a/b/c", "a/bb", "b", "a/.env", "z/y/x/w", "A", "é", "a/b/d/e"}
	for i, k := range keys {
		if k == "a/b" {
			continue // "a/b" and "a/b/c" conflict on a filesystem
		}
		MustPut(t, s, k, strings.Repeat("x", i))
	}
	present := slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return k == "a/b" })
	sorted := slices.Clone(present)
	sort.Strings(sorted)
	page, err := s.List(ctx, "", "", blob.MaxListLimit)
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(page.Items); !slices.Equal(got, sorted) || page.Next != "" {
		t.Fatalf("list all: %q next %q, want %q", got, page.Next, sorted)
	}
	for _, it := range page.Items {
		want := slices.Index(keys, it.Key)
		if it.Size != int64(want) || it.ModTime.IsZero() {
			t.Fatalf("item %+v: want size %d and a time", it, want)
		}
	}
	prefixes := map[string][]string{
		"a/":    {"a/.env", "a/b/c", "a/b/d/e", "a/bb"},
		"a/b":   {"a/b/c", "a/b/d/e", "a/bb"},
		"a/b/":  {"a/b/c", "a/b/d/e"},
		"a":     {"a-c", "a/.env", "a/b/c", "a/b/d/e", "a/bb", "a0"},
		"a/.":   {"a/.env"},
		"z/y/x": {"z/y/x/w"},
		"q":     {},
		"é":     {"é"},
	}
	for p, want := range prefixes {
		page, err := s.List(ctx, p, "", 100)
		if err != nil {
			t.Fatalf("prefix %q: %v", p, err)
		}
		if got := keysOf(page.Items); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("prefix %q: %q, want %q", p, got, want)
		}
	}
	// Pages of 3, following cursors, give everything once, in order.
	var all []string
	cursor := ""
	for i := 0; ; i++ {
		page, err := s.List(ctx, "", cursor, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) > 3 || i > 10 {
			t.Fatalf("page %d: %d items", i, len(page.Items))
		}
		all = append(all, keysOf(page.Items)...)
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if !slices.Equal(all, sorted) {
		t.Fatalf("paged: %q, want %q", all, sorted)
	}
	// Pages within a prefix.
	page, err = s.List(ctx, "a/", "", 2)
	if err != nil || !slices.Equal(keysOf(page.Items), []string{"a/.env", "a/b/c"}) || page.Next == "" {
		t.Fatalf("prefix page 1: %+v %v", page, err)
	}
	page, err = s.List(ctx, "a/", page.Next, 2)
	if err != nil || !slices.Equal(keysOf(page.Items), []string{"a/b/d/e", "a/bb"}) {
		t.Fatalf("prefix page 2: %+v %v", page, err)
	}
	if page.Next != "" {
		// Some drivers only learn that a page was the last on the next call.
		last, err := s.List(ctx, "a/", page.Next, 2)
		if err != nil || len(last.Items) != 0 || last.Next != "" {
			t.Fatalf("prefix page 3: %+v %v", last, err)
		}
	}
	// A cursor is a position, not a key that must exist.
	page, err = s.List(ctx, "", "a/b", 100)
	if err != nil || !slices.Equal(keysOf(page.Items), []string{"a/b/c", "a/b/d/e", "a/bb", "a0", "b", "z/y/x/w", "é"}) {
		t.Fatalf("after a/b: %q %v", keysOf(page.Items), err)
	}
}

func testListBadInput(t *testing.T, s blob.Storage) {
	ctx := context.Background()
	MustPut(t, s, "x", "1")
	for _, p := range []string{"/", "/x", "../", "a/../", "a\x00"} {
		if _, err := s.List(ctx, p, "", 10); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("prefix %q: %v, want ErrInvalidKey", p, err)
		}
	}
	for _, c := range []string{"/x", "../x", "a/"} {
		if _, err := s.List(ctx, "", c, 10); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("cursor %q: %v, want ErrInvalidKey", c, err)
		}
	}
	for _, n := range []int{0, -1, blob.MaxListLimit + 1} {
		if _, err := s.List(ctx, "", "", n); err == nil {
			t.Errorf("limit %d: no error", n)
		}
	}
}

func testDelete(t *testing.T, s blob.Storage) {
	ctx := context.Background()
	MustPut(t, s, "d/e/f", "1")
	MustPut(t, s, "d/g", "2")
	if err := s.Delete(ctx, "d/e/f"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "d/e/f"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("stat after delete: %v", err)
	}
	page, err := s.List(ctx, "", "", 10)
	if err != nil || !slices.Equal(keysOf(page.Items), []string{"d/g"}) {
		t.Fatalf("list after delete: %+v %v", page, err)
	}
	if err := s.Delete(ctx, "d/e/f"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	// The emptied "directory" can become an object.
	MustPut(t, s, "d/e", "now a file")
	if body, _ := MustRead(t, s, "d/e", nil); body != "now a file" {
		t.Fatal(body)
	}
}

// testFileDirectoryKeys: "x" and "x/y" may both exist (S3) or the second
// may be refused with ErrConflict (files); either way nothing is lost.
func testFileDirectoryKeys(t *testing.T, s blob.Storage) {
	ctx := context.Background()
	MustPut(t, s, "x", "file")
	_, err := s.Put(ctx, "x/y", strings.NewReader("nested"), blob.PutOptions{})
	if err != nil && !errors.Is(err, blob.ErrConflict) {
		t.Fatalf("put x/y over object x: %v", err)
	}
	if body, _ := MustRead(t, s, "x", nil); body != "file" {
		t.Fatalf("x changed: %q", body)
	}
	MustPut(t, s, "p/q", "nested")
	_, err = s.Put(ctx, "p", strings.NewReader("file"), blob.PutOptions{})
	if err != nil && !errors.Is(err, blob.ErrConflict) {
		t.Fatalf("put p over p/q: %v", err)
	}
	if body, _ := MustRead(t, s, "p/q", nil); body != "nested" {
		t.Fatalf("p/q changed: %q", body)
	}
}

func testConcurrentPuts(t *testing.T, s blob.Storage) {
	ctx := context.Background()
	const writers = 8
	contents := make([]string, writers)
	for i := range contents {
		contents[i] = strings.Repeat(string(rune('a'+i)), 1000+i*4099)
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*5)
	for i := range writers {
		wg.Go(func() {
			for range 5 {
				if _, err := s.Put(ctx, "hot", strings.NewReader(contents[i]), blob.PutOptions{Metadata: map[string]string{"writer": fmt.Sprint(i)}}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	body, obj := MustRead(t, s, "hot", nil)
	i := slices.Index(contents, body)
	if i < 0 {
		t.Fatalf("object is no writer's whole content (%d bytes)", len(body))
	}
	if obj.Size != int64(len(body)) || obj.Metadata["writer"] != fmt.Sprint(i) {
		t.Fatalf("info does not describe the content: size %d of %d, writer %q of %d", obj.Size, len(body), obj.Metadata["writer"], i)
	}
}

func testReadDuringOverwrite(t *testing.T, s blob.Storage) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	versions := []string{strings.Repeat("A", 300<<10), strings.Repeat("B", 200<<10)}
	put := func(i int) {
		MustPut(t, s, "v", versions[i], blob.PutOptions{ContentType: fmt.Sprintf("text/v%d", i), Metadata: map[string]string{"version": fmt.Sprint(i)}})
	}
	put(0)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 1; ctx.Err() == nil && i < 40; i++ {
			put(i % 2)
		}
		cancel()
	})
	var problems []string
	for ctx.Err() == nil {
		obj, err := s.Get(context.Background(), "v", nil)
		if err != nil {
			problems = append(problems, err.Error())
			break
		}
		b, err := io.ReadAll(obj.Body)
		obj.Body.Close()
		if err != nil {
			problems = append(problems, err.Error())
			break
		}
		i := slices.Index(versions, string(b))
		if i < 0 || obj.Size != int64(len(b)) {
			problems = append(problems, fmt.Sprintf("read a mix: %d bytes, info size %d", len(b), obj.Size))
			break
		}
		// The Info read with the body describes that body.
		if obj.Metadata["version"] != fmt.Sprint(i) || obj.ContentType != fmt.Sprintf("text/v%d", i) {
			problems = append(problems, fmt.Sprintf("version %d read with metadata %v, type %q", i, obj.Metadata, obj.ContentType))
			break
		}
	}
	wg.Wait()
	if len(problems) > 0 {
		t.Fatal(problems)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Command blobbench measures artifact upload and download throughput
// through the HTTP API of a running `agentops serve`, against a plain copy
// of the same file (io.Copy between two files, with and without fsync,
// since the file driver fsyncs every upload).
//
// For each size it writes a source file of random bytes, then times, per
// run: file → file copies; PUT /api/files/backup/:key with the file as the
// body (Content-Length known) and with a chunked body; GET of the artifact
// into a file. It prints the median MB/s (MB = 10^6 bytes) of the runs.
//
//	make build && go run -tags sqlite_fts5 ./internal/bench/blobbench -sizes 1,100 -runs 7
//
// With -s3 the server stores artifacts in an in-memory S3 server
// (gofakes3) in this process: a measure of the driver's overhead, not of a
// real S3 service.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func main() {
	bin := flag.String("bin", "bin/agentops", "the agentops binary")
	sizes := flag.String("sizes", "1,100", "comma-separated file sizes in MiB")
	runs := flag.Int("runs", 7, "runs per measurement (the median is reported)")
	useS3 := flag.Bool("s3", false, "store artifacts in an in-memory S3 server (gofakes3) instead of files")
	flag.Parse()
	if err := run(*bin, *sizes, *runs, *useS3); err != nil {
		fmt.Fprintln(os.Stderr, "blobbench:", err)
		os.Exit(1)
	}
}

func run(bin, sizeList string, runs int, useS3 bool) error {
	dir, err := os.MkdirTemp("", "blobbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	args := []string{"serve", "--listen", addr, "--data-dir", filepath.Join(dir, "data"), "--sandbox", "external",
		"--log-level", "error", "--max-upload-bytes", strconv.Itoa(2 << 30)}
	backend := "fs"
	if useS3 {
		mem := s3mem.New()
		if err := mem.CreateBucket("bench"); err != nil {
			return err
		}
		fake := httptest.NewServer(gofakes3.New(mem).Server())
		defer fake.Close()
		args = append(args, "--blob", "s3", "--s3-endpoint", fake.URL, "--s3-bucket", "bench",
			"--s3-access-key", "k", "--s3-secret-key", "s", "--s3-path-style")
		backend = "s3 (gofakes3, in memory, in the bench process)"
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	base := "http://" + addr
	if err := waitReady(base); err != nil {
		return err
	}
	token, sid, err := setup(base)
	if err != nil {
		return err
	}

	fmt.Printf("### Environment\n- %d cores, %s, %s/%s; backend: %s; data dir on %s\n\n", runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, backend, os.TempDir())
	// Registration (argon2id, 19 MiB) has already raised the peak.
	peaks := []string{"after setup: " + peakRSS(cmd.Process.Pid)}
	fmt.Println("| size | file copy | file copy + fsync | PUT (Content-Length) | PUT (chunked) | GET |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, s := range strings.Split(sizeList, ",") {
		mib, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || mib <= 0 {
			return fmt.Errorf("bad size %q", s)
		}
		size := int64(mib) << 20
		src := filepath.Join(dir, fmt.Sprintf("src-%d", mib))
		if err := writeRandom(src, size); err != nil {
			return err
		}
		dst := filepath.Join(dir, "dst")
		key := fmt.Sprintf("bench/%d.bin", mib)
		q := "?sessionId=" + sid
		measures := []func() error{
			func() error { return copyFile(src, dst, false) },
			func() error { return copyFile(src, dst, true) },
			func() error { return upload(base+"/api/files/backup/"+key+q, token, src, size, true) },
			func() error { return upload(base+"/api/files/backup/"+key+q, token, src, size, false) },
			func() error { return download(base+"/api/files/backup/"+key+q, token, dst, size) },
		}
		row := fmt.Sprintf("| %d MiB |", mib)
		for _, m := range measures {
			var rates []float64
			for range runs {
				t0 := time.Now()
				if err := m(); err != nil {
					return err
				}
				rates = append(rates, float64(size)/time.Since(t0).Seconds()/1e6)
			}
			slices.Sort(rates)
			row += fmt.Sprintf(" %.0f MB/s |", rates[len(rates)/2])
		}
		fmt.Println(row)
		os.Remove(src)
		peaks = append(peaks, fmt.Sprintf("after the %d MiB runs: %s", mib, peakRSS(cmd.Process.Pid)))
	}
	fmt.Printf("\nServer peak RSS (VmHWM): %s.\n", strings.Join(peaks, "; "))
	return nil
}

// peakRSS reads a process's high-water resident set size (Linux).
func peakRSS(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitReady(base string) error {
	for t0 := time.Now(); time.Since(t0) < time.Minute; time.Sleep(20 * time.Millisecond) {
		if res, err := http.Get(base + "/ready"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
	}
	return errors.New("server not ready after a minute")
}

func call(method, url, token string, body any, out any) error {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, url, res.StatusCode, raw)
	}
	return json.Unmarshal(raw, out)
}

// setup registers the first user and creates a session (external runner:
// nothing is started) for the artifacts.
func setup(base string) (token, sessionID string, err error) {
	var reg struct{ SessionToken string }
	if err := call("POST", base+"/auth/email/register", "", map[string]any{"email": "bench@example.com", "password": "a long passphrase"}, &reg); err != nil {
		return "", "", err
	}
	var created struct{ Session struct{ ID string } }
	if err := call("POST", base+"/api/sessions", reg.SessionToken, map[string]any{"workspace": "bench"}, &created); err != nil {
		return "", "", err
	}
	return reg.SessionToken, created.Session.ID, nil
}

func writeRandom(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		return err
	}
	return f.Close()
}

func copyFile(src, dst string, sync bool) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	// Hide ReadFrom/WriteTo: a plain read/write loop, as the server does
	// (no copy_file_range shortcut).
	if _, err := io.Copy(struct{ io.Writer }{out}, struct{ io.Reader }{in}); err != nil {
		return err
	}
	if sync {
		if err := out.Sync(); err != nil {
			return err
		}
	}
	return out.Close()
}

func upload(url, token, src string, size int64, known bool) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	var body io.Reader = struct{ io.Reader }{f}
	req, _ := http.NewRequest("PUT", url, body)
	if known {
		req.ContentLength = size
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		return fmt.Errorf("PUT: %d %s", res.StatusCode, raw)
	}
	return nil
}

func download(url, token, dst string, size int64) error {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		raw, _ := io.ReadAll(res.Body)
		return fmt.Errorf("GET: %d %s", res.StatusCode, raw)
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	n, err := io.Copy(struct{ io.Writer }{out}, res.Body)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("GET: %d bytes, want %d", n, size)
	}
	return out.Close()
}

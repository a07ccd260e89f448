package api_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/app/api"
	"github.com/agentops/agentops/store"
	"github.com/agentops/agentops/store/storetest"
)

// stall sends a request head that announces a body of 1000 bytes, then
// one byte, and nothing more. It returns the response (nil if the server
// closed without one) and how long the server took to let go.
func stall(t *testing.T, url, head string) (*http.Response, time.Duration) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_ = c.SetDeadline(start.Add(30 * time.Second))
	if _, err := io.WriteString(c, head+"Content-Length: 1000\r\nContent-Type: application/json\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err == nil {
		_, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	// Whatever was answered, the server must close the connection.
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("the server kept reading a stalled body")
	}
	if time.Since(start) > 20*time.Second {
		t.Fatalf("the server held a stalled body for %v", time.Since(start))
	}
	return resp, time.Since(start)
}

// A body that stalls is cut off after the grace period: with a bad token
// the 401 comes at once (authentication comes before the body), with a
// good one the handler's read times out (408); either way the connection
// is closed, so 3,000 stalled uploads cannot hold 3,000 descriptors.
func TestStalledBodiesAreCutOff(t *testing.T) {
	storetest.EachDialect(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, envOpts{body: api.BodyTiming{Grace: 3 * time.Second, MinRate: 1024}})
		tok := e.register("ada@example.com", pw)

		resp, took := stall(t, e.url, "POST /api/api-keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n")
		if resp == nil || resp.StatusCode != 401 {
			t.Fatalf("bad token with a stalled body: %v", resp)
		}
		if took > 1500*time.Millisecond {
			t.Fatalf("the 401 waited for the body: %v", took)
		}

		resp, _ = stall(t, e.url, "POST /api/api-keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok+"\r\n")
		if resp == nil || resp.StatusCode != 408 {
			t.Fatalf("good token with a stalled body: %v", resp)
		}
		// Nothing was created.
		r := e.call("GET", "/api/api-keys", tok, nil)
		expect(t, r, 200, "")
		if !strings.Contains(string(r.Raw), "[]") {
			t.Fatalf("a stalled request created a key: %s", r.Raw)
		}
		// So is a webhook (signed over its body, which it must read first).
		if resp, _ := stall(t, e.url, "POST /webhooks/some/hook HTTP/1.1\r\nHost: x\r\n"); resp != nil && resp.StatusCode < 400 {
			t.Fatalf("webhook with a stalled body: %v", resp)
		}
		// A public route (sign-up reads its body) is cut off too.
		if resp, _ := stall(t, e.url, "POST /auth/email/login HTTP/1.1\r\nHost: x\r\n"); resp == nil || resp.StatusCode != 408 {
			t.Fatalf("login with a stalled body: %v", resp)
		}
	})
}

// slowReader yields size bytes in chunks, one chunk per tick.
type slowReader struct {
	left, chunk int
	tick        time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.tick)
	n := min(len(p), r.chunk, r.left)
	for i := range n {
		p[i] = 'x'
	}
	r.left -= n
	return n, nil
}

// An upload that takes longer than the grace period but keeps above the
// minimum rate goes through; one that falls below it is cut off.
func TestSlowButSteadyUploadsWork(t *testing.T) {
	st := storetest.Open(t, store.SQLite)
	e := newFilesEnv(t, st, filesOpts{maxUpload: 8 << 20, body: api.BodyTiming{Grace: 500 * time.Millisecond, MinRate: 256 << 10}})
	tok := e.register("ada@example.com", pw)
	sid := e.newSession(tok)
	// 2 MiB at about 1.3 MiB/s: 1.5 s, three times the grace.
	start := time.Now()
	r := e.raw("PUT", "/api/files/backup/big.bin?sessionId="+sid, tok, &slowReader{left: 2 << 20, chunk: 64 << 10, tick: 50 * time.Millisecond})
	expect(t, r, 200, "")
	if time.Since(start) < time.Second {
		t.Fatalf("the upload was not slow enough to test anything: %v", time.Since(start))
	}
	if r.Body["size"] != float64(2<<20) {
		t.Fatalf("stored: %s", r.Raw)
	}
	// 64 KiB a second against a minimum of 256 KiB/s: cut off.
	req, err := http.NewRequest("PUT", e.url+"/api/files/backup/trickle.bin?sessionId="+sid,
		&slowReader{left: 1 << 20, chunk: 16 << 10, tick: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	// The server answers 408 while the client still sends; the client may
	// see the answer or only the closed connection.
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		if res.StatusCode != 408 {
			t.Fatalf("a trickle below the minimum rate: %d", res.StatusCode)
		}
	}
	r = e.raw("GET", "/api/files/backup/trickle.bin?sessionId="+sid, tok, nil)
	expect(t, r, 404, "")
}

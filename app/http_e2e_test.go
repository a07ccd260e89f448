package app_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentops/agentops/store"
)

// rawRequest writes req on a new connection and reads the response.
func rawRequest(t *testing.T, addr, req string) (*http.Response, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	// Write in the background: the server may answer before it has read
	// everything.
	go func() { _, _ = io.WriteString(c, req) }()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func wantJSONError(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	var e struct{ Error, Code string }
	if resp.StatusCode != status || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
		json.Unmarshal(body, &e) != nil || e.Error == "" || e.Code != code {
		t.Fatalf("want %d %s as the JSON error body, got %d %v %q", status, code, resp.StatusCode, resp.Header, body)
	}
}

// The errors net/http writes itself (before any handler runs) come in the
// one JSON error body too.
func TestProtocolErrorsAreJSON(t *testing.T) {
	s := startServer(t, store.SQLite, "external")
	resp, body := rawRequest(t, s.cfg.Listen, "GET /api/auth/me HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 2<<20)+"\r\n\r\n")
	wantJSONError(t, resp, body, 431, "HEADERS_TOO_LARGE")
	resp, body = rawRequest(t, s.cfg.Listen, "GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
	wantJSONError(t, resp, body, 400, "BAD_REQUEST")
}

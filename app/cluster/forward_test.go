package cluster_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentops/agentops/app/cluster"
)

// A request for a session another replica runs is served by that replica,
// which sees it as forwarded by a peer and serves it itself; a client
// cannot pose as a peer; other routes stay where they land.
func TestForwardToOwner(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	old := []byte("an older key's secret, still kept")
	var ownerURL string
	handler := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name+" "+r.URL.RequestURI()+" peer="+r.Header.Get(cluster.Header))
		})
	}
	owns := func(ctx context.Context, id string) (string, error) {
		if id == "s1" {
			return ownerURL, nil
		}
		return "", nil
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ownerF := &cluster.Forwarder{Self: "owner", Secret: secret, Accept: [][]byte{secret, old}, Owner: func(context.Context, string) (string, error) { return "", nil }, Log: log}
	owner := httptest.NewServer(ownerF.Wrap(handler("owner")))
	defer owner.Close()
	ownerURL = owner.URL
	// The other replica signs with an older key (it started before a
	// rotation was recorded): the owner still accepts it.
	otherF := &cluster.Forwarder{Self: "other", Secret: old, Accept: [][]byte{secret, old}, Owner: owns, Log: log}
	other := httptest.NewServer(otherF.Wrap(handler("other")))
	defer other.Close()

	get := func(base, path string, hdr map[string]string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	for path, want := range map[string]string{
		"/api/sessions/s1/messages":              "owner /api/sessions/s1/messages peer=",
		"/api/sessions/s1":                       "owner /api/sessions/s1 peer=",
		"/api/files/read?sessionId=s1&path=a.go": "owner /api/files/read?sessionId=s1&path=a.go peer=",
		"/api/sessions/s2/messages":              "other /api/sessions/s2/messages peer=",
		"/api/files/read?sessionId=s2":           "other /api/files/read?sessionId=s2 peer=",
		"/api/sessions":                          "other /api/sessions peer=",
		"/api/memory":                            "other /api/memory peer=",
	} {
		if got := get(other.URL, path, nil); got != want {
			t.Errorf("GET %s on the other replica: %q, want %q", path, got, want)
		}
	}
	// A client's own header is neither trusted nor passed on.
	if got := get(other.URL, "/api/sessions/s1", map[string]string{cluster.Header: "owner:forged"}); !strings.HasPrefix(got, "owner ") || strings.Contains(got, "forged") {
		t.Errorf("forged peer header: %q", got)
	}
	// The owner, asked directly with a forged header, serves it as any
	// request (it is the owner) and drops the header.
	if got := get(owner.URL, "/api/sessions/s1", map[string]string{cluster.Header: "x:y"}); got != "owner /api/sessions/s1 peer=" {
		t.Errorf("owner with a forged header: %q", got)
	}
}

// An owner that cannot be reached is a 503 with the common error body.
func TestForwardToDeadOwner(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	f := &cluster.Forwarder{Self: "me", Secret: []byte("s"), Owner: func(context.Context, string) (string, error) { return url, nil },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rec := httptest.NewRecorder()
	f.Wrap(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest("GET", "/api/sessions/s1", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"code":"UNAVAILABLE"`) || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("dead owner: %d %s", rec.Code, rec.Body.String())
	}
}

package app_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/agentops/agentops/store"
)

// TestSocketRoutesAnswerWithTheErrorBody: what the WebSocket library would
// answer in plain text (not an upgrade; an origin that may not connect)
// comes as the common JSON error body, on the session and event sockets.
func TestSocketRoutesAnswerWithTheErrorBody(t *testing.T) {
	s := startServer(t, store.SQLite, "external")
	id := s.createSession(nil).Session.ID
	for _, c := range []struct {
		path, origin string
		upgrade      bool
		status       int
		code         string
	}{
		{"/api/sessions/" + id + "/ws?role=client", "", false, 426, "UPGRADE_REQUIRED"},
		{"/api/sessions/" + id + "/ws?role=runner&token=x", "", false, 426, "UPGRADE_REQUIRED"},
		{"/api/events/ws", "", false, 426, "UPGRADE_REQUIRED"},
		{"/api/sessions/" + id + "/ws?role=client", "http://evil.example", true, 403, "FORBIDDEN"},
		{"/api/events/ws", "http://evil.example", true, 403, "FORBIDDEN"},
	} {
		req, _ := http.NewRequest("GET", s.url+c.path, nil)
		req.Header.Set("Authorization", "Bearer "+s.token)
		if c.upgrade {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		}
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		err = json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if res.StatusCode != c.status || err != nil || body["code"] != c.code || body["error"] == nil {
			t.Errorf("%s (origin %q): %d %v (%v)", c.path, c.origin, res.StatusCode, body, err)
		}
	}
}

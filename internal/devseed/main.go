// Command devseed fills a running agentops with realistic demo data through
// its HTTP API (so everything it makes passes the same validation as a
// user's requests): an admin and two members, sessions with transcripts
// (the script agent answers, with tool calls), memories, a persona,
// workflows with manual, schedule and webhook triggers, and executions.
// It prints the demo admin's email and password. Run by `make dev-seed`.
//
//	go run -tags sqlite_fts5 ./internal/devseed -url http://127.0.0.1:8787
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

const (
	adminEmail = "admin@demo.agentops.test"
	password   = "demo passphrase 1234"
)

type client struct {
	base  string
	token string
	http  *http.Client
}

// call sends a JSON request and decodes a 2xx answer into out.
func (c *client) call(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

func (c *client) as(token string) *client { return &client{base: c.base, token: token, http: c.http} }

// login registers the user (with an invite code, unless it is the first)
// or logs in when it exists already, so that seeding twice works.
func (c *client) login(ctx context.Context, email, name, invite string) (*client, error) {
	var tok struct{ SessionToken string }
	body := map[string]any{"email": email, "password": password, "name": name}
	if invite != "" {
		body["inviteCode"] = invite
	}
	if err := c.call(ctx, "POST", "/auth/email/register", body, &tok); err != nil {
		if err2 := c.call(ctx, "POST", "/auth/email/login", map[string]any{"email": email, "password": password}, &tok); err2 != nil {
			return nil, fmt.Errorf("register %s: %v; login: %w", email, err, err2)
		}
	}
	return c.as(tok.SessionToken), nil
}

func main() {
	base := flag.String("url", "http://127.0.0.1:8787", "agentops to seed")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := seed(ctx, &client{base: *base, http: &http.Client{Timeout: 30 * time.Second}}); err != nil {
		fmt.Fprintln(os.Stderr, "devseed:", err)
		os.Exit(1)
	}
}

func seed(ctx context.Context, anon *client) error {
	var setup struct{ NeedsSetup bool }
	if err := anon.call(ctx, "GET", "/auth/setup", nil, &setup); err != nil {
		return err
	}
	admin, err := anon.login(ctx, adminEmail, "Demo Admin", "")
	if err != nil {
		return fmt.Errorf("%w (a data dir whose first user is someone else cannot be seeded: make dev-reset)", err)
	}
	users := []*client{admin}
	for _, m := range []struct{ email, name string }{{"ada@demo.agentops.test", "Ada"}, {"linus@demo.agentops.test", "Linus"}} {
		var inv struct{ Code string }
		if err := admin.call(ctx, "POST", "/api/admin/invites", map[string]any{"email": m.email, "role": "member"}, &inv); err != nil {
			return err
		}
		u, err := anon.login(ctx, m.email, m.name, inv.Code)
		if err != nil {
			return err
		}
		users = append(users, u)
	}

	prompts := []string{
		"Summarise the open pull requests\n/tool github.list_pull_requests completed {\"state\":\"open\"}",
		"Why does the build fail on arm64?\n/tool bash completed {\"command\":\"go build ./...\"}\n/tool read_file completed {\"path\":\"go.mod\"}",
		"Add a test for the retry logic\n/tool edit_file completed {\"path\":\"retry_test.go\"}",
		"Run the linter\n/tool bash error {\"command\":\"golangci-lint run\"}",
	}
	sessions := 0
	for i, u := range users {
		for j, title := range []string{"Triage the backlog", "Fix the arm64 build", "Retry tests"} {
			var created struct {
				Session struct{ ID string }
			}
			if err := u.call(ctx, "POST", "/api/sessions", map[string]any{"workspace": fmt.Sprintf("demo-%d-%d", i, j), "title": title}, &created); err != nil {
				return err
			}
			for k := 0; k < 2; k++ {
				p := prompts[(i+j+k)%len(prompts)]
				if err := u.call(ctx, "POST", "/api/sessions/"+created.Session.ID+"/prompt", map[string]any{"content": p}, nil); err != nil {
					return err
				}
			}
			sessions++
		}
		for _, m := range []struct{ path, content string }{
			{"preferences/style.md", "Prefer small pull requests with a test for every fix."},
			{"projects/agentops/notes.md", "The arm64 build needs Debian's cross compiler for cgo (SQLite)."},
			{"people/reviewers.md", "Ada reviews storage changes; Linus reviews the runner."},
		} {
			if err := u.call(ctx, "PUT", "/api/me/memory", map[string]any{"path": m.path, "content": m.content}, nil); err != nil {
				return err
			}
		}
	}
	if err := admin.call(ctx, "POST", "/api/personas", map[string]any{
		"name": "Careful reviewer", "slug": "careful-reviewer", "visibility": "shared",
		"description": "Reviews diffs for missing tests and unclear names",
		"files":       []map[string]any{{"filename": "instructions.md", "content": "Review the diff. Name missing tests first."}},
	}, nil); err != nil {
		fmt.Fprintln(os.Stderr, "devseed: persona:", err, "(kept going)")
	}

	workflows := []map[string]any{
		{"id": "nightly-deps", "name": "Nightly dependency check", "data": map[string]any{"steps": []any{
			map[string]any{"id": "list", "type": "bash", "command": "echo 3 outdated modules", "outputVariable": "outdated"},
			map[string]any{"id": "report", "type": "agent_message", "content": "Summarise: {{outdated}}"},
		}}},
		{"id": "release-notes", "name": "Release notes on tag", "data": map[string]any{"steps": []any{
			map[string]any{"id": "log", "type": "bash", "command": "echo 'feat: backups; fix: arm64 build'"},
			map[string]any{"id": "ok", "type": "approval", "prompt": "Publish these release notes?"},
		}}},
	}
	for _, wf := range workflows {
		if err := admin.call(ctx, "POST", "/api/workflows/sync", wf, nil); err != nil {
			return err
		}
	}
	triggers := []map[string]any{
		{"workflowId": "nightly-deps", "name": "Every night at 02:00", "config": map[string]any{"type": "schedule", "cron": "0 2 * * *", "timezone": "Europe/Berlin"}},
		{"workflowId": "release-notes", "name": "On a pushed tag", "config": map[string]any{"type": "webhook", "path": "demo/release-" + fmt.Sprint(time.Now().Unix()), "secret": "demo-webhook-secret"}},
		{"workflowId": "nightly-deps", "name": "By hand", "config": map[string]any{"type": "manual"}},
	}
	var manualID string
	for _, tr := range triggers {
		var t struct{ ID string }
		if err := admin.call(ctx, "POST", "/api/triggers", tr, &t); err != nil {
			return err
		}
		manualID = t.ID
	}
	executions := 0
	for _, run := range []struct{ path string }{{"/api/triggers/" + manualID + "/run"}, {"/api/triggers/manual/run"}} {
		body := map[string]any{"workflowId": "release-notes"}
		if run.path != "/api/triggers/manual/run" {
			body = map[string]any{"variables": map[string]any{"reason": "demo"}}
		}
		if err := admin.call(ctx, "POST", run.path, body, nil); err != nil {
			return err
		}
		executions++
	}
	fmt.Printf("seeded %d users, %d sessions, %d memories, %d workflows with %d triggers, %d executions\n",
		len(users), sessions, 3*len(users), len(workflows), len(triggers), executions)
	fmt.Printf("demo admin: %s / %s (members: ada@demo.agentops.test, linus@demo.agentops.test, same password)\n", adminEmail, password)
	return nil
}

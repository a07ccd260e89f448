package benchkit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Client is a REST client for one agentops server.
type Client struct {
	URL  string // http://127.0.0.1:port
	HTTP *http.Client
}

// NewClient returns a client for the server at url with a connection pool
// sized for conns concurrent requests.
func NewClient(url string, conns int) *Client {
	return &Client{URL: url, HTTP: &http.Client{
		Timeout:   2 * time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxIdleConns: conns, Proxy: nil},
	}}
}

// Call sends a JSON request and decodes the JSON answer into out; any
// status but want is an error.
func (s *Client) Call(ctx context.Context, method, path, token string, body, out any, want int) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, rd)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := s.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

// Password is every bench user's password.
const Password = "a long passphrase for the bench"

// Users registers n users: the first becomes the admin, the others are
// invited by email. It returns their login tokens.
func (s *Client) Users(ctx context.Context, n int) ([]string, error) {
	tokens := make([]string, 0, n)
	for i := range n {
		email := fmt.Sprintf("bench%d@example.com", i)
		if i > 0 {
			if err := s.Call(ctx, "POST", "/api/admin/invites", tokens[0], map[string]any{"email": email}, nil, 201); err != nil {
				return nil, err
			}
		}
		var reg struct{ SessionToken string }
		if err := s.Call(ctx, "POST", "/auth/email/register", "", map[string]any{"email": email, "password": Password, "name": fmt.Sprintf("Bench %d", i)}, &reg, 200); err != nil {
			return nil, err
		}
		tokens = append(tokens, reg.SessionToken)
	}
	return tokens, nil
}

// Session is a session created over REST with its owner's login token and
// its runner token.
type Session struct {
	ID          string
	Owner       string // login token
	RunnerToken string
}

// CreateSession makes a session with the external sandbox and reads the
// runner token from the command it returns.
func (s *Client) CreateSession(ctx context.Context, owner string) (Session, error) {
	var out struct {
		Session struct{ ID string }
		Runner  *struct{ Command string }
	}
	if err := s.Call(ctx, "POST", "/api/sessions", owner, map[string]any{"workspace": "bench"}, &out, 201); err != nil {
		return Session{}, err
	}
	if out.Runner == nil {
		return Session{}, errors.New("create session: no runner command (is the sandbox external?)")
	}
	tok, err := runnerToken(out.Runner.Command)
	if err != nil {
		return Session{}, err
	}
	return Session{ID: out.Session.ID, Owner: owner, RunnerToken: tok}, nil
}

func runnerToken(command string) (string, error) {
	const key = "AGENTOPS_RUNNER_TOKEN="
	i := strings.Index(command, key)
	if i < 0 {
		return "", fmt.Errorf("no %s in the runner command", key)
	}
	tok, _, _ := strings.Cut(command[i+len(key):], " ")
	return strings.Trim(tok, "'"), nil
}

// CreateSessions makes n sessions, ten per user (the per-user limit of
// active sessions), with at most workers requests at once.
func (s *Client) CreateSessions(ctx context.Context, tokens []string, n, workers int) ([]Session, error) {
	out := make([]Session, n)
	var mu sync.Mutex
	var first error
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				bs, err := s.CreateSession(ctx, tokens[i/10])
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				out[i] = bs
				mu.Unlock()
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return out, first
}

// WSURL is the socket URL of session id.
func (s *Client) WSURL(id string) string {
	return "ws" + strings.TrimPrefix(s.URL, "http") + "/api/sessions/" + id + "/ws"
}

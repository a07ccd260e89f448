// Package repos serves the GitHub side of sessions: the repositories and
// pull requests the owner's token can see, pull requests made from a
// session's branch, and the periodic refresh of their state. It talks to
// GitHub (or GitHub Enterprise) through google/go-github.
package repos

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-github/v89/github"

	"github.com/agentops/agentops/app/apperr"
)

// DefaultAPIURL is github.com's API.
const DefaultAPIURL = "https://api.github.com/"

// api is where GitHub's API is and which host its repositories are on.
type api struct {
	base    string // the API base URL, ending in "/"
	webHost string // the host of repository URLs (github.com for api.github.com)
	http    *http.Client
}

func newAPI(base string, hc *http.Client) (api, error) {
	if base == "" {
		base = DefaultAPIURL
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return api{}, fmt.Errorf("the GitHub API URL %q is not an http(s) URL", base)
	}
	host := u.Hostname()
	if host == "api.github.com" {
		host = "github.com"
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return api{base: base, webHost: strings.ToLower(host), http: hc}, nil
}

// client is a GitHub client authenticated with token.
func (a api) client(token string) (*github.Client, error) {
	opts := []github.ClientOptionsFunc{github.WithHTTPClient(a.http), github.WithURLs(&a.base, &a.base),
		github.WithUserAgent("agentops")}
	if token != "" {
		opts = append(opts, github.WithAuthToken(token))
	}
	return github.NewClient(opts...)
}

// webURL is a URL on the repositories' host, for choosing the token.
func (a api) webURL() string { return "https://" + a.webHost + "/" }

// Repo names a repository on the API's host.
type Repo struct {
	Owner, Name string
}

// FullName is owner/name.
func (r Repo) FullName() string { return r.Owner + "/" + r.Name }

// parseRepo reads a repository from a URL on the API's host
// (https://github.com/o/r, …/o/r.git; for GitHub Enterprise the host of
// --github-api-url, any port) or an owner/name.
func (a api) parseRepo(raw string) (Repo, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return Repo{}, apperr.Invalid("repo", "repo is required: a repository URL or owner/name")
	}
	path := raw
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
			return Repo{}, apperr.Invalid("repo", "repo must be an http(s) repository URL or owner/name")
		}
		if !strings.EqualFold(u.Hostname(), a.webHost) {
			return Repo{}, apperr.Invalid("repo", "%s is not a repository on %s (set --github-api-url for GitHub Enterprise)", raw, a.webHost)
		}
		path = u.Path
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return Repo{}, apperr.Invalid("repo", "%s does not name a repository as owner/name", raw)
	}
	r := Repo{Owner: parts[0], Name: strings.TrimSuffix(parts[1], ".git")}
	if !ownerName.MatchString(r.Owner) || !repoName.MatchString(r.Name) || r.Name == "." || r.Name == ".." {
		return Repo{}, apperr.Invalid("repo", "%s does not name a repository as owner/name", raw)
	}
	return r, nil
}

// The names GitHub allows for accounts and repositories.
var (
	ownerName = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)
	repoName  = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
)

// apiError turns a GitHub error into the answer's: rate limits are 503
// with retryAfterSeconds, a token GitHub refuses is 403, a repository it
// does not show is 404.
func apiError(what string, err error) error {
	var rl *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	var er *github.ErrorResponse
	switch {
	case errors.As(err, &rl):
		return rateLimited(time.Until(rl.Rate.Reset.Time))
	case errors.As(err, &abuse):
		var d time.Duration
		if abuse.RetryAfter != nil {
			d = *abuse.RetryAfter
		}
		return rateLimited(d)
	case errors.As(err, &er) && er.Response != nil:
		msg := er.Message
		for _, e := range er.Errors {
			if e.Message != "" {
				msg += ": " + e.Message
			}
		}
		switch er.Response.StatusCode {
		case http.StatusUnauthorized:
			return &apperr.Error{Kind: apperr.KindForbidden, Code: "GITHUB_TOKEN_INVALID",
				Message: "GitHub refused the github token (" + msg + "): store a valid one (PUT /api/auth/me/credentials/github)"}
		case http.StatusForbidden:
			return &apperr.Error{Kind: apperr.KindForbidden, Code: "GITHUB_TOKEN_NO_ACCESS",
				Message: "The github token has no access to " + what + " (" + msg + ")"}
		case http.StatusNotFound:
			return &apperr.Error{Kind: apperr.KindNotFound, Code: "GITHUB_NOT_FOUND",
				Message: "GitHub does not show " + what + " to the github token: it does not exist or the token cannot see it"}
		case http.StatusUnprocessableEntity:
			return &apperr.Error{Kind: apperr.KindInvalid, Code: "GITHUB_REFUSED", Message: "GitHub refused " + what + ": " + msg}
		}
		return &apperr.Error{Kind: apperr.KindUnavailable, Code: "GITHUB_ERROR", Message: "GitHub answered " + what + " with an error: " + msg}
	}
	return &apperr.Error{Kind: apperr.KindUnavailable, Code: "GITHUB_UNREACHABLE", Message: "GitHub could not be reached for " + what, Err: err}
}

// rateLimited is the 503 for GitHub's rate limit.
func rateLimited(wait time.Duration) error {
	secs := int((wait + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 60
	}
	return &apperr.Error{Kind: apperr.KindUnavailable, Code: "GITHUB_RATE_LIMITED",
		Message: "GitHub's rate limit for the github token is used up; try again later",
		Extra:   map[string]any{"retryAfterSeconds": secs}}
}

// isRateLimit tells a rate-limit answer.
func isRateLimit(err error) bool {
	e, ok := apperr.As(err)
	return ok && e.Code == "GITHUB_RATE_LIMITED"
}

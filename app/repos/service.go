package repos

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-github/v89/github"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/app/protocol"
	"github.com/agentops/agentops/store"
)

// Tokens gives the github token of a user for a repository URL (the
// user's own credential, else the org's for github.com).
type Tokens interface {
	RepoToken(ctx context.Context, userID, repoURL string) (string, error)
}

// Sessions is what pull requests need of sessions.
type Sessions interface {
	GitState(ctx context.Context, userID, id string) (*store.SessionGitState, error)
	Push(ctx context.Context, userID, id string) (protocol.GitPush, error)
	NotifyPullRequest(id string, pr any)
}

// Options configure the service.
type Options struct {
	// APIURL is GitHub's API base (DefaultAPIURL when empty); a GitHub
	// Enterprise one is like https://ghe.example.com/api/v3/.
	APIURL string
	// RefreshInterval is how often an open pull request's state is read
	// again (a failing one backs off, doubling up to 64 times).
	RefreshInterval time.Duration
	HTTPClient      *http.Client
	Now             func() time.Time
}

// Service serves /api/repos* and refreshes pull requests.
type Service struct {
	st       *store.Store
	tokens   Tokens
	sessions Sessions
	api      api
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger

	// pausedUntil is when GitHub's rate limit lets the refresh go on; only
	// the refresh job (one run at a time) touches it.
	pausedUntil time.Time
}

// New builds the service.
func New(st *store.Store, tokens Tokens, sessions Sessions, o Options, log *slog.Logger) (*Service, error) {
	a, err := newAPI(o.APIURL, o.HTTPClient)
	if err != nil {
		return nil, err
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = 5 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{st: st, tokens: tokens, sessions: sessions, api: a, interval: o.RefreshInterval, now: o.Now, log: log}, nil
}

// token is the user's github token for the API's host; none is a 403.
func (s *Service) token(ctx context.Context, userID string) (string, error) {
	tok, err := s.tokens.RepoToken(ctx, userID, s.api.webURL())
	if err != nil {
		return "", err
	}
	if tok == "" {
		return "", &apperr.Error{Kind: apperr.KindForbidden, Code: "GITHUB_TOKEN_MISSING",
			Message: "No github token: store one (PUT /api/auth/me/credentials/github)"}
	}
	return tok, nil
}

func (s *Service) client(ctx context.Context, userID string) (*github.Client, error) {
	tok, err := s.token(ctx, userID)
	if err != nil {
		return nil, err
	}
	return s.api.client(tok)
}

// Page is a page request: page from 1, perPage 1–100 (default 30).
type Page struct{ Page, PerPage int }

func (p Page) opts() github.ListOptions {
	if p.Page < 1 {
		p.Page = 1
	}
	if p.PerPage < 1 {
		p.PerPage = 30
	}
	return github.ListOptions{Page: p.Page, PerPage: min(p.PerPage, 100)}
}

// RepoInfo is a repository as /api/repos shows it.
type RepoInfo struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"`
	FullName      string `json:"fullName"`
	Owner         string `json:"owner"`
	Private       bool   `json:"private"`
	DefaultBranch string `json:"defaultBranch"`
	URL           string `json:"url"`
	CloneURL      string `json:"cloneUrl"`
	Description   string `json:"description"`
	UpdatedAt     string `json:"updatedAt,omitempty"`
}

func repoInfo(r *github.Repository) RepoInfo {
	out := RepoInfo{ID: r.GetID(), Name: r.GetName(), FullName: r.GetFullName(), Owner: r.GetOwner().GetLogin(),
		Private: r.GetPrivate(), DefaultBranch: r.GetDefaultBranch(), URL: r.GetHTMLURL(), CloneURL: r.GetCloneURL(),
		Description: r.GetDescription()}
	if t := r.GetUpdatedAt(); !t.IsZero() {
		out.UpdatedAt = t.UTC().Format(time.RFC3339)
	}
	return out
}

// ListRepos lists the repositories the user's token can see; sort is
// created, updated, pushed or full_name.
func (s *Service) ListRepos(ctx context.Context, userID string, p Page, sort string) ([]RepoInfo, bool, error) {
	switch sort {
	case "", "created", "updated", "pushed", "full_name":
	default:
		return nil, false, apperr.Invalid("sort", "sort must be created, updated, pushed or full_name")
	}
	c, err := s.client(ctx, userID)
	if err != nil {
		return nil, false, err
	}
	repos, resp, err := c.Repositories.ListByAuthenticatedUser(ctx, &github.RepositoryListByAuthenticatedUserOptions{
		Sort: sort, ListOptions: p.opts()})
	if err != nil {
		return nil, false, apiError("the repository list", err)
	}
	out := make([]RepoInfo, 0, len(repos))
	for _, r := range repos {
		out = append(out, repoInfo(r))
	}
	return out, resp.NextPage != 0, nil
}

// Validate reports whether the user can use the repository: (repo, "")
// when GitHub shows it to the token, else ("", why). Bad input is an
// error only when raw is missing.
func (s *Service) Validate(ctx context.Context, userID, raw string) (*RepoInfo, string, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, "", apperr.Invalid("url", "url is required")
	}
	r, err := s.api.parseRepo(raw)
	if err != nil {
		e, _ := apperr.As(err)
		return nil, e.Message, nil
	}
	c, err := s.client(ctx, userID)
	if err != nil {
		if isRateLimit(err) {
			return nil, "", err
		}
		e, ok := apperr.As(err)
		if !ok {
			return nil, "", err
		}
		return nil, e.Message, nil
	}
	repo, _, err := c.Repositories.Get(ctx, r.Owner, r.Name)
	if err != nil {
		err = apiError(r.FullName(), err)
		if e, ok := apperr.As(err); ok && !isRateLimit(err) && e.Kind != apperr.KindUnavailable {
			return nil, e.Message, nil
		}
		return nil, "", err
	}
	info := repoInfo(repo)
	return &info, "", nil
}

// PullInfo is a pull request as the pulls list shows it.
type PullInfo struct {
	Number    int    `json:"number"`
	Title     string `json:"title"`
	State     string `json:"state"`
	URL       string `json:"url"`
	Branch    string `json:"branch"`
	Base      string `json:"base"`
	Draft     bool   `json:"draft"`
	Author    string `json:"author"`
	CreatedAt string `json:"createdAt,omitempty"`
	UpdatedAt string `json:"updatedAt,omitempty"`
}

func prState(pr *github.PullRequest) string {
	if pr.GetMerged() || !pr.GetMergedAt().IsZero() {
		return store.PRMerged
	}
	if pr.GetState() == "closed" {
		return store.PRClosed
	}
	return store.PROpen
}

// ListPulls lists a repository's pull requests (state open, closed or
// all; default open).
func (s *Service) ListPulls(ctx context.Context, userID, owner, name, state string, p Page) ([]PullInfo, bool, error) {
	switch state {
	case "":
		state = "open"
	case "open", "closed", "all":
	default:
		return nil, false, apperr.Invalid("state", "state must be open, closed or all")
	}
	r, err := s.api.parseRepo(owner + "/" + name)
	if err != nil {
		return nil, false, err
	}
	c, err := s.client(ctx, userID)
	if err != nil {
		return nil, false, err
	}
	prs, resp, err := c.PullRequests.List(ctx, r.Owner, r.Name, &github.PullRequestListOptions{State: state, ListOptions: p.opts()})
	if err != nil {
		return nil, false, apiError(r.FullName(), err)
	}
	out := make([]PullInfo, 0, len(prs))
	for _, pr := range prs {
		pi := PullInfo{Number: pr.GetNumber(), Title: pr.GetTitle(), State: prState(pr), URL: pr.GetHTMLURL(),
			Branch: pr.GetHead().GetRef(), Base: pr.GetBase().GetRef(), Draft: pr.GetDraft(), Author: pr.GetUser().GetLogin()}
		if t := pr.GetCreatedAt(); !t.IsZero() {
			pi.CreatedAt = t.UTC().Format(time.RFC3339)
		}
		if t := pr.GetUpdatedAt(); !t.IsZero() {
			pi.UpdatedAt = t.UTC().Format(time.RFC3339)
		}
		out = append(out, pi)
	}
	return out, resp.NextPage != 0, nil
}

// PRInput is POST /api/repos/pull-request's body.
type PRInput struct {
	Branch    string
	Title     string
	Body      string
	Base      string
	SessionID string
	Draft     bool
}

// PR is a pull request as POST /api/repos/pull-request answers it and
// the pr-created frame carries it.
type PR struct {
	Number int    `json:"number"`
	URL    string `json:"url"`
	Title  string `json:"title"`
	State  string `json:"state"`
}

// CreatePR opens a pull request of branch into base on the repository;
// with a session, its branch is pushed first and the pull request is
// recorded in its git state.
func (s *Service) CreatePR(ctx context.Context, userID, repoArg string, in PRInput) (PR, error) {
	r, err := s.api.parseRepo(repoArg)
	if err != nil {
		return PR{}, err
	}
	in.Title, in.Branch, in.Base = strings.TrimSpace(in.Title), strings.TrimSpace(in.Branch), strings.TrimSpace(in.Base)
	switch {
	case in.Title == "":
		return PR{}, apperr.Invalid("title", "title is required")
	case len(in.Title) > 256:
		return PR{}, apperr.Invalid("title", "title must be at most 256 bytes")
	case len(in.Body) > 65536:
		return PR{}, apperr.Invalid("body", "body must be at most 64 KiB")
	}
	if in.SessionID != "" {
		g, err := s.sessions.GitState(ctx, userID, in.SessionID)
		if err != nil {
			return PR{}, err
		}
		if g == nil || g.Branch == "" {
			return PR{}, apperr.Invalid("sessionId", "the session has no git branch")
		}
		if in.Branch == "" {
			in.Branch = g.Branch
		} else if in.Branch != g.Branch {
			return PR{}, apperr.Invalid("branch", "branch %q is not the session's branch %q", in.Branch, g.Branch)
		}
		if in.Base == "" {
			in.Base = g.BaseBranch
		}
	}
	if in.Branch == "" {
		return PR{}, apperr.Invalid("branch", "branch is required")
	}
	tok, err := s.token(ctx, userID)
	if err != nil {
		return PR{}, err
	}
	c, err := s.api.client(tok)
	if err != nil {
		return PR{}, err
	}
	if in.Base == "" {
		repo, _, err := c.Repositories.Get(ctx, r.Owner, r.Name)
		if err != nil {
			return PR{}, apiError(r.FullName(), err)
		}
		in.Base = repo.GetDefaultBranch()
	}
	if in.SessionID != "" {
		if _, err := s.sessions.Push(ctx, userID, in.SessionID); err != nil {
			return PR{}, err
		}
	}
	np := &github.NewPullRequest{Title: &in.Title, Head: &in.Branch, Base: &in.Base, Draft: &in.Draft}
	if in.Body != "" {
		np.Body = &in.Body
	}
	pr, _, err := c.PullRequests.Create(ctx, r.Owner, r.Name, np)
	if err != nil {
		if nothingToMerge(err) {
			return PR{}, &apperr.Error{Kind: apperr.KindInvalid, Code: "NOTHING_TO_MERGE", Details: map[string]any{"field": "branch"},
				Message: "Nothing to merge: " + in.Branch + " has no commits that " + in.Base + " lacks (commit and push the work first)"}
		}
		return PR{}, apiError("a pull request on "+r.FullName(), err)
	}
	out := PR{Number: pr.GetNumber(), URL: pr.GetHTMLURL(), Title: pr.GetTitle(), State: prState(pr)}
	if in.SessionID != "" {
		now := s.now()
		created := pr.GetCreatedAt().Time
		if created.IsZero() {
			created = now
		}
		err := s.st.GitStates().RecordPR(ctx, in.SessionID, store.PullRequest{Number: out.Number, Title: out.Title,
			State: out.State, URL: out.URL, RepoURL: "https://" + s.api.webHost + "/" + r.FullName(), CreatedAt: created.UTC()}, now)
		if err != nil {
			return out, err
		}
		s.sessions.NotifyPullRequest(in.SessionID, out)
	}
	return out, nil
}

// nothingToMerge tells GitHub's 422 for a head without commits beyond
// the base.
func nothingToMerge(err error) bool {
	var er *github.ErrorResponse
	if !errors.As(err, &er) || er.Response == nil || er.Response.StatusCode != http.StatusUnprocessableEntity {
		return false
	}
	for _, e := range er.Errors {
		if strings.Contains(e.Message, "No commits between") {
			return true
		}
	}
	return strings.Contains(er.Message, "No commits between")
}

package credentials

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/agentops/agentops/app/apperr"
	"github.com/agentops/agentops/store"
)

// CheckResult says whether a provider accepted a stored key.
type CheckResult struct {
	OK    bool
	Error string
}

// Default API roots, used when a credential has no base URL of its own.
const (
	anthropicAPI = "https://api.anthropic.com"
	openaiAPI    = "https://api.openai.com/v1"
	googleAPI    = "https://generativelanguage.googleapis.com/v1beta"
	githubAPI    = "https://api.github.com"
)

// checkTimeout bounds the one request a check makes.
const checkTimeout = 10 * time.Second

// CheckUser makes one cheap, read-only call to the provider with the
// user's stored key (listing models, or the GitHub user) and says whether
// the provider accepted it. A missing credential is a 404; a provider that
// refuses the key, answers an error or cannot be reached is a result with
// OK false and a reason that never contains the key.
func (s *Service) CheckUser(ctx context.Context, userID, provider string) (CheckResult, error) {
	if err := ValidProvider(provider); err != nil {
		return CheckResult{}, err
	}
	owner := store.UserOwner(userID)
	c, err := s.st.Credentials().Get(ctx, owner, provider)
	if errors.Is(err, store.ErrNotFound) {
		return CheckResult{}, apperr.NotFound("Credential")
	}
	if err != nil {
		return CheckResult{}, err
	}
	key, err := s.open(ctx, c)
	if err != nil {
		return CheckResult{OK: false, Error: "the stored key cannot be opened with this server's keyring"}, nil
	}
	req, err := checkRequest(ctx, provider, c.BaseURL, key)
	if err != nil {
		return CheckResult{OK: false, Error: err.Error()}, nil
	}
	client := s.http
	if client == nil {
		client = &http.Client{Timeout: checkTimeout}
	}
	res, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry nothing secret, but keep the reason short
		}
		return CheckResult{OK: false, Error: fmt.Sprintf("%s cannot be reached: %v", req.URL.Host, err)}, nil
	}
	_ = res.Body.Close()
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return CheckResult{OK: true}, nil
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		return CheckResult{OK: false, Error: fmt.Sprintf("%s refused the key (HTTP %d)", req.URL.Host, res.StatusCode)}, nil
	default:
		return CheckResult{OK: false, Error: fmt.Sprintf("%s answered HTTP %d", req.URL.Host, res.StatusCode)}, nil
	}
}

// checkRequest is the provider's cheapest authenticated read.
func checkRequest(ctx context.Context, provider, baseURL, key string) (*http.Request, error) {
	root := strings.TrimRight(baseURL, "/")
	var target string
	hdr := http.Header{}
	switch {
	case provider == "anthropic":
		if root == "" {
			root = anthropicAPI
		}
		if !strings.HasSuffix(root, "/v1") {
			root += "/v1"
		}
		target = root + "/models"
		hdr.Set("x-api-key", key)
		hdr.Set("anthropic-version", "2023-06-01")
	case provider == "openai" || IsCustom(provider):
		if root == "" {
			root = openaiAPI
		}
		target = root + "/models"
		hdr.Set("Authorization", "Bearer "+key)
	case provider == "google":
		target = googleAPI + "/models"
		hdr.Set("x-goog-api-key", key)
	case provider == "github":
		target = githubAPI + "/user"
		hdr.Set("Authorization", "Bearer "+key)
		hdr.Set("Accept", "application/vnd.github+json")
	default:
		return nil, fmt.Errorf("no check is known for provider %s", provider)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, fmt.Errorf("the base URL is not usable: %v", err)
	}
	req.Header = hdr
	return req, nil
}

package credentials

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// RepoToken returns the github token a session of the user clones
// repoURL with: the user's own github credential for any http(s) host,
// the org's only for github.com (so that nobody can send the org's token
// to a server of their choosing); "" when there is none.
func (s *Service) RepoToken(ctx context.Context, userID, repoURL string) (string, error) {
	u, err := url.Parse(repoURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return "", nil
	}
	res, err := s.Resolve(ctx, userID)
	if err != nil {
		return "", fmt.Errorf("open the stored credentials: %w", err)
	}
	for _, r := range res {
		if r.Provider != GitHub {
			continue
		}
		host := strings.ToLower(u.Hostname())
		if r.Org && host != "github.com" {
			return "", nil
		}
		return r.Key, nil
	}
	return "", nil
}
